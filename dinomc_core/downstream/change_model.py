"""Siamese change model: one encoder on both dates, absolute feature differences at several depths, UNet decoder.

Like SeCo's and DINO-MC's OSCD model (reference section 2.5), with three deliberate differences: it works with any
backbone that has ``forward_pyramid`` (ViTs included), it adds the difference of the normalised inputs as the
finest level (full-resolution detail, which ViT features at stride 8-16 lack), and a frozen encoder stays in eval
mode (no batch statistics are updated).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DifferenceDecoder(nn.Module):
    """Fuses difference maps from the deepest level up to the input level into one change logit per pixel.

    ``level_channels`` lists the channels of each difference map, finest (the input difference) first. Training
    patches over-sample change; in eval mode ``prior_logit_offset`` (the log-odds of change in the cities minus that
    in the training patches, set by the trainer) is added so that the logits answer for the cities' change rate.
    """

    def __init__(self, level_channels: list[int], width: int = 32) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(channels, width, 1) for channels in level_channels)
        self.fuse = nn.ModuleList(conv_block(2 * width, width) for _ in level_channels[:-1])
        self.classifier = nn.Conv2d(width, 1, 1)
        self.register_buffer("prior_logit_offset", torch.zeros(1))

    def forward(self, differences: list[torch.Tensor]) -> torch.Tensor:
        x = self.lateral[-1](differences[-1])
        for level in range(len(differences) - 2, -1, -1):
            skip = self.lateral[level](differences[level])
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = self.fuse[level](torch.cat([x, skip], dim=1))
        logits = self.classifier(x)
        return logits if self.training else logits + self.prior_logit_offset


class ChangeModel(nn.Module):
    """``forward(before, after) -> (N, 1, H, W)`` change logits at input resolution, for any input size."""

    def __init__(self, encoder: nn.Module, width: int = 32, freeze_encoder: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.freeze_encoder = freeze_encoder
        self.decoder = DifferenceDecoder([encoder.in_chans] + list(encoder.pyramid_channels), width)
        self.multiple = max(encoder.pyramid_strides)
        if freeze_encoder:
            self.encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> "ChangeModel":
        """A frozen encoder stays in eval mode, so its batch-norm statistics never move."""
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    def encoder_differences(self, before: torch.Tensor, after: torch.Tensor) -> list[torch.Tensor]:
        """``|f(before) - f(after)|`` at every pyramid level, both dates in one encoder pass."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            levels = self.encoder.forward_pyramid(torch.cat([before, after]))
        return [(first - second).abs() for first, second in (level.chunk(2) for level in levels)]

    def forward(self, before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        height, width = before.shape[-2:]
        pad_bottom, pad_right = -height % self.multiple, -width % self.multiple
        before = F.pad(before, (0, pad_right, 0, pad_bottom), mode="replicate")
        after = F.pad(after, (0, pad_right, 0, pad_bottom), mode="replicate")
        differences = [(before - after).abs()] + self.encoder_differences(before, after)
        return self.decoder(differences)[..., :height, :width]

    def describe(self) -> dict:
        """The head entry of the model file's metadata, enough to rebuild this model."""
        return {
            "type": "siamese_difference_unet",
            "width": self.decoder.classifier.in_channels,
            "encoder": "frozen" if self.freeze_encoder else "finetuned",
            "pyramid_channels": list(self.encoder.pyramid_channels),
            "pyramid_strides": list(self.encoder.pyramid_strides),
        }

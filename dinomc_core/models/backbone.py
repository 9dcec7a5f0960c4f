"""timm backbones for any number of bands and any crop size, with global, dense and multi-level features.

ViTs take every crop size the method uses: the right and bottom pixels that do not fill a whole patch are dropped
(as the official DINO ViT's strided patch convolution does, e.g. 4 px of a 164 px crop with patch 8) and the
position embedding is resampled to the token grid (timm's bicubic resampling). CNNs and Swin take any size.
"""
from __future__ import annotations

import timm
import torch
from torch import nn

from dinomc_core.errors import DinoMCError

#: Backbones the project documents and tests; any other timm name that builds is accepted too.
KNOWN_ARCHS = (
    "vit_tiny_patch16_224",
    "vit_small_patch16_224",
    "vit_small_patch8_224",
    "vit_base_patch16_224",
    "resnet18",
    "resnet50",
    "wide_resnet50_2",
    "swin_tiny_patch4_window7_224",
)

#: Variants of timm models for small crops of 10 m pixels, named in timm's style: the timm model and what changes.
ARCH_VARIANTS = {
    "vit_tiny_patch8_64": ("vit_tiny_patch16_224", {"patch_size": 8, "img_size": 64}),
}

VIT_PYRAMID_DEPTHS = 4


def _is_vit(arch: str) -> bool:
    return arch.startswith(("vit_", "deit_"))


def _is_swin(arch: str) -> bool:
    return arch.startswith("swin")


def _timm_kwargs(arch: str, in_chans: int, drop_path_rate: float) -> dict:
    kwargs: dict = {"pretrained": False, "num_classes": 0, "in_chans": in_chans}
    if _is_vit(arch):
        kwargs["dynamic_img_size"] = True
    if _is_swin(arch):
        kwargs["strict_img_size"] = False
    if drop_path_rate > 0:
        kwargs["drop_path_rate"] = drop_path_rate
    return kwargs


class Backbone(nn.Module):
    """A timm model without classifier, mapping ``(N, in_chans, H, W)`` to DINO's features."""

    def __init__(self, arch: str, in_chans: int, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        if in_chans < 1:
            raise DinoMCError(f"a backbone needs at least one input band, got {in_chans}")
        try:
            timm_name, changes = ARCH_VARIANTS.get(arch, (arch, {}))
            self.model = timm.create_model(timm_name, **_timm_kwargs(arch, in_chans, drop_path_rate), **changes)
        except RuntimeError as error:  # timm raises RuntimeError for unknown model names
            raise DinoMCError(
                f"unknown architecture {arch!r}; use a timm model name such as {', '.join(KNOWN_ARCHS[:4])}"
            ) from error
        self.arch = arch
        self.in_chans = in_chans
        self.is_vit = _is_vit(arch)
        self._features_are_nhwc = _is_swin(arch)
        self.feature_dim: int = self.model.num_features
        feature_info = self.model.feature_info
        if self.is_vit:
            self.patch_size = int(self.model.patch_embed.patch_size[0])
            depth = len(self.model.blocks)
            self._pyramid_indices = sorted({round((i + 1) * depth / VIT_PYRAMID_DEPTHS) - 1 for i in range(VIT_PYRAMID_DEPTHS)})
            self.pyramid_channels = [self.feature_dim] * len(self._pyramid_indices)
            self.pyramid_strides = [self.patch_size] * len(self._pyramid_indices)
        else:
            self.patch_size = int(feature_info[-1]["reduction"])
            self._pyramid_indices = list(range(len(feature_info)))
            self.pyramid_channels = [int(info["num_chs"]) for info in feature_info]
            self.pyramid_strides = [int(info["reduction"]) for info in feature_info]

    def _crop_to_patches(self, x: torch.Tensor) -> torch.Tensor:
        """Drop the right/bottom remainder that does not fill a whole ViT patch."""
        if not self.is_vit:
            return x
        height = x.shape[-2] - x.shape[-2] % self.patch_size
        width = x.shape[-1] - x.shape[-1] % self.patch_size
        if height == 0 or width == 0:
            raise DinoMCError(f"an input of {x.shape[-2]}x{x.shape[-1]} px is smaller than one {self.patch_size} px patch")
        return x[..., :height, :width]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Global feature ``(N, feature_dim)``: the CLS token for ViTs, the pooled feature otherwise."""
        return self.model(self._crop_to_patches(x))

    def forward_dense(self, x: torch.Tensor) -> torch.Tensor:
        """Last-level feature map ``(N, feature_dim, h, w)`` (normalised patch tokens for ViTs)."""
        x = self._crop_to_patches(x)
        features = self.model.forward_features(x)
        if self.is_vit:
            tokens = features[:, self.model.num_prefix_tokens :]
            grid_h, grid_w = x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size
            return tokens.transpose(1, 2).reshape(x.shape[0], self.feature_dim, grid_h, grid_w)
        if self._features_are_nhwc:
            return features.permute(0, 3, 1, 2).contiguous()
        return features

    def forward_pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at several depths, finest first (``.pyramid_channels``, ``.pyramid_strides``)."""
        return self.model.forward_intermediates(
            self._crop_to_patches(x), indices=self._pyramid_indices, intermediates_only=True, output_fmt="NCHW"
        )


def create_backbone(arch: str, in_chans: int, *, drop_path_rate: float = 0.0) -> Backbone:
    """Build a randomly initialised backbone (weights are never downloaded)."""
    return Backbone(arch, in_chans, drop_path_rate=drop_path_rate)

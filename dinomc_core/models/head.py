"""DINO's projection head and the multi-crop wrapper that runs crops of equal size together."""
from __future__ import annotations

from itertools import groupby

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class DINOHead(nn.Module):
    """MLP (``nlayers`` Linear+GELU, bottleneck), L2 normalisation, weight-normalised linear layer to ``out_dim``.

    With ``norm_last_layer`` the weight-norm magnitude is frozen at 1, so logits are cosine similarities.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 65536,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        nlayers: int = 3,
        norm_last_layer: bool = True,
    ) -> None:
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (nlayers - 1) + [bottleneck_dim]
        layers: list[nn.Module] = []
        for index, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(d_in, d_out))
            if index < nlayers - 1:
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        self.mlp.apply(_init_linear)
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        magnitude = self.last_layer.parametrizations.weight.original0
        with torch.no_grad():
            magnitude.fill_(1.0)
        magnitude.requires_grad = not norm_last_layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.normalize(self.mlp(x), dim=-1, p=2)
        return self.last_layer(x)


def _init_linear(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)


class MultiCropWrapper(nn.Module):
    """Backbone then head over a list of crops; consecutive crops of equal size share one backbone pass.

    The output is crop-major: all images of crop 0, then crop 1, ..., so ``chunk(len(crops))`` recovers the crops.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, crops: list[torch.Tensor]) -> torch.Tensor:
        features = []
        for _, group in groupby(crops, key=lambda crop: tuple(crop.shape[-2:])):
            features.append(self.backbone(torch.cat(list(group))))
        return self.head(torch.cat(features))

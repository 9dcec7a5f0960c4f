"""Image filters shared by the augmentations and the maps, on tensors of any number of bands."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur every band of ``(C, H, W)`` or ``(N, C, H, W)`` with a separable gaussian of ``sigma`` pixels (kernel
    radius 3 sigma, reflected edges)."""
    batch = x if x.ndim == 4 else x[None]
    radius = min(math.ceil(3 * sigma), min(x.shape[-2:]) - 1)
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = batch.shape[1]
    padded = F.pad(batch, (radius, radius, radius, radius), mode="reflect")
    blurred = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    blurred = F.conv2d(blurred, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
    return blurred if x.ndim == 4 else blurred[0]


def neighbour_differences(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)``: each pixel's absolute difference to its right neighbour plus that to the one below (0 past
    the last column and row), a texture measure whose mean over a chip is the same over any window of it."""
    across = F.pad((x[..., :, 1:] - x[..., :, :-1]).abs(), (0, 1))
    down = F.pad((x[..., 1:, :] - x[..., :-1, :]).abs(), (0, 0, 0, 1))
    return across + down

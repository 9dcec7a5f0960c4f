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


def least_textured_window(texture: torch.Tensor, offset: int) -> torch.Tensor:
    """``(N, C, H, W)``: each pixel's texture taken from the least textured (summed over bands) of nine windows, its
    own and the eight centred ``offset`` px away along rows, columns and diagonals (in the spirit of Kuwahara's
    filter). A pixel by a bank or a field's edge gets the texture of its smooth side instead of one averaged across
    the edge, and one inside a river keeps the windows along it; the price is that a smooth region reaches up to
    ``offset`` px into a rough neighbour. Edges are replicated."""
    height, width = texture.shape[-2:]
    padded = F.pad(texture, (offset, offset, offset, offset), mode="replicate")
    best, best_total = texture, texture.sum(dim=1, keepdim=True)
    for dy in (-offset, 0, offset):
        for dx in (-offset, 0, offset):
            if dy == dx == 0:
                continue
            window = padded[..., offset + dy : offset + dy + height, offset + dx : offset + dx + width]
            total = window.sum(dim=1, keepdim=True)
            best = torch.where(total < best_total, window, best)
            best_total = torch.minimum(total, best_total)
    return best

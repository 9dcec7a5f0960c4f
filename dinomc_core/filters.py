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
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64, device=x.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = batch.shape[1]
    # depthwise convolutions run 5 times faster channels-last on CPU (oneDNN): 17 against 92 ms for 8 x 13 x 256^2
    # in float32; in bfloat16 (under autocast, or given) that path takes minutes, so half types are blurred in float32
    exact = torch.float32 if x.dtype in (torch.bfloat16, torch.float16) else x.dtype
    padded = F.pad(batch.to(exact), (radius, radius, radius, radius), mode="reflect")
    padded = padded.contiguous(memory_format=torch.channels_last)
    kernel = kernel.to(exact)
    with torch.autocast(device_type=x.device.type, enabled=False):
        blurred = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
        blurred = F.conv2d(blurred, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
    blurred = blurred.contiguous().to(x.dtype)
    return blurred if x.ndim == 4 else blurred[0]


def bilinear_weights(source: int, target: int) -> torch.Tensor:
    """``(target, source)`` weights of bilinear resampling along one axis, as ``F.interpolate`` with
    ``align_corners=False`` computes them (source positions below 0 clamped to 0)."""
    position = ((torch.arange(target, dtype=torch.float64) + 0.5) * (source / target) - 0.5).clamp_min(0)
    low = position.floor().long().clamp_max(source - 1)
    high = (low + 1).clamp_max(source - 1)
    fraction = position - low
    weights = torch.zeros(target, source, dtype=torch.float64)
    rows = torch.arange(target)
    weights[rows, low] += 1 - fraction
    weights[rows, high] += fraction
    return weights


def bilinear_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(..., H, W)`` resized bilinearly to ``size``, as ``F.interpolate(..., align_corners=False)``, but as two
    matrix products: under autocast they run in its type (on this CPU, bfloat16 upsampling of coarse encoder maps to
    tiles was 3 times faster than ``F.interpolate``)."""
    rows = bilinear_weights(x.shape[-2], size[0]).to(x.device, x.dtype)
    columns = bilinear_weights(x.shape[-1], size[1]).to(x.device, x.dtype)
    return torch.matmul(rows, torch.matmul(x, columns.T))


def neighbour_differences(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)``: each pixel's absolute difference to its right neighbour plus that to the one below (0 past
    the last column and row), a texture measure whose mean over a chip is the same over any window of it."""
    differences = torch.zeros_like(x)
    torch.sub(x[..., :, 1:], x[..., :, :-1], out=differences[..., :, :-1]).abs_()
    differences[..., :-1, :] += (x[..., 1:, :] - x[..., :-1, :]).abs_()
    return differences


def least_textured_window(texture: torch.Tensor, offset: int) -> torch.Tensor:
    """``(N, C, H, W)``: each pixel's texture taken from the least textured (summed over bands) of nine windows, its
    own and the eight centred ``offset`` px away along rows, columns and diagonals (in the spirit of Kuwahara's
    filter). A pixel by a bank or a field's edge gets the texture of its smooth side instead of one averaged across
    the edge, and one inside a river keeps the windows along it; the price is that a smooth region reaches up to
    ``offset`` px into a rough neighbour. Edges are replicated. The window is chosen on the band sum, then all bands
    are gathered at once."""
    count, channels, height, width = texture.shape
    padded = F.pad(texture, (offset, offset, offset, offset), mode="replicate")
    padded_width = width + 2 * offset
    totals = padded.sum(dim=1, keepdim=True)
    best_total = totals[..., offset : offset + height, offset : offset + width]
    best_shift = torch.zeros((count, 1, height, width), dtype=torch.long, device=texture.device)
    for dy in (-offset, 0, offset):
        for dx in (-offset, 0, offset):
            if dy == dx == 0:
                continue
            total = totals[..., offset + dy : offset + dy + height, offset + dx : offset + dx + width]
            better = total < best_total
            best_total = torch.where(better, total, best_total)
            best_shift = torch.where(better, dy * padded_width + dx, best_shift)
    rows = torch.arange(height, device=texture.device).view(-1, 1) + offset
    cols = torch.arange(width, device=texture.device).view(1, -1) + offset
    index = (rows * padded_width + cols + best_shift).view(count, 1, -1).expand(count, channels, -1)
    return padded.flatten(2).gather(2, index).view(count, channels, height, width)

"""Data that several downstream tests build."""
from __future__ import annotations

import torch


def blobs(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three classes: two linearly separable, the third a ring around the first (needs a non-linear head)."""
    generator = torch.Generator().manual_seed(seed)
    angle = torch.rand(count, generator=generator) * 6.283
    centre = torch.randn(count, 2, generator=generator) * 0.3
    ring = torch.stack([angle.cos(), angle.sin()], 1) * 2.0 + torch.randn(count, 2, generator=generator) * 0.1
    far = torch.randn(count, 2, generator=generator) * 0.3 + torch.tensor([6.0, 0.0])
    return torch.cat([centre, ring, far]), torch.arange(3).repeat_interleave(count)

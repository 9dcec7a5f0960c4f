"""Principal components of features: the projection that keeps a few strong axes of a wide encoder feature."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Projection:
    """Principal components: ``(features - mean) @ components.T``; ``components`` is (K, D), strongest first."""

    mean: torch.Tensor
    components: torch.Tensor


def spread_indices(total: int, count: int) -> list[int]:
    """Up to ``count`` indices evenly spread over ``range(total)``: the tiles or images statistics are fitted on."""
    return np.unique(np.linspace(0, total - 1, min(count, total)).round().astype(int)).tolist()


def principal_components(features: torch.Tensor, count: int) -> Projection:
    """The ``count`` strongest principal axes of ``features`` (M, D), with signs fixed so results are repeatable."""
    features = features.double()
    mean = features.mean(dim=0)
    centred = features - mean
    covariance = centred.T @ centred / max(len(features) - 1, 1)
    _, vectors = torch.linalg.eigh(covariance)
    components = vectors[:, -count:].flip(-1).T
    signs = torch.sign(components[torch.arange(count), components.abs().argmax(dim=1)])
    return Projection(mean.float(), (components * signs[:, None]).float())


def project_maps(maps: torch.Tensor, projection_mean: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
    """Feature maps ``(N, D, h, w)`` projected onto ``components`` (K, D): ``(N, K, h, w)``."""
    centred = maps.float() - projection_mean[None, :, None, None]
    return torch.einsum("kd,ndhw->nkhw", components, centred)

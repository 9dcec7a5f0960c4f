"""Baselines that need no encoder: per-band mean spectra for chips, change vector analysis with Otsu for pairs.

They tell what a learned encoder adds: a land-cover classifier should beat the chip's mean spectrum, a change
model should beat thresholding the spectral difference.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


def band_mean_features(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, bands)`` mean of each normalised band over each chip, and the targets."""
    means, targets = [], []
    for index in range(len(dataset)):
        x, target = dataset[index]
        means.append(x.mean(dim=(-2, -1)))
        targets.append(target)
    return torch.stack(means), torch.stack(targets)


def standardise_bands(image: np.ndarray) -> np.ndarray:
    """Each band of one date to zero mean and unit variance, removing scene-wide radiometric differences."""
    values = image.astype(np.float32)
    mean = values.mean(axis=(1, 2), keepdims=True)
    std = values.std(axis=(1, 2), keepdims=True)
    return (values - mean) / np.maximum(std, 1e-6)


def change_vector_magnitude(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Euclidean length ``(H, W)`` of the per-pixel difference of the two dates' standardised spectra."""
    difference = standardise_bands(after) - standardise_bands(before)
    return np.sqrt(np.square(difference).sum(axis=0))


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """The threshold that maximises the between-class variance of ``values`` (Otsu 1979)."""
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(counts * centres)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * np.square(mean_low - mean_high)
    return float(edges[1:][np.argmax(between)])

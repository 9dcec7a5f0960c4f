"""Baselines that need no encoder: per-band mean spectra for chips, change vector analysis with Otsu for pairs,
and the per-pixel Gaussian maximum-likelihood classifier.

They tell what a learned encoder adds: a land-cover classifier should beat the chip's mean spectrum, a change
model should beat thresholding the spectral difference.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from dinomc_core.downstream.thresholds import Histogram


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
    histogram = Histogram(float(np.min(values)), float(np.max(values)), bins)
    histogram.add(values)
    return histogram.otsu()


class GaussianMaximumLikelihood:
    """The per-pixel maximum-likelihood classifier of remote-sensing software (as in QGIS's Semi-Automatic
    Classification Plugin): one Gaussian per class over the bands, equal priors, the most likely class wins."""

    def __init__(self, ridge: float = 1e-6) -> None:
        self.ridge = ridge
        self.means: np.ndarray | None = None
        self.precisions: np.ndarray | None = None
        self.log_determinants: np.ndarray | None = None

    def fit(self, pixels: np.ndarray, targets: np.ndarray, num_classes: int) -> "GaussianMaximumLikelihood":
        """Class means and covariances from training pixels ``(M, C)``; a small ridge keeps them invertible."""
        pixels = pixels.astype(np.float64)
        means, precisions, log_determinants = [], [], []
        for index in range(num_classes):
            members = pixels[targets == index]
            covariance = np.cov(members, rowvar=False) if len(members) > 1 else np.zeros((pixels.shape[1],) * 2)
            covariance = np.atleast_2d(covariance) + np.eye(pixels.shape[1]) * (self.ridge + 1e-3 * np.trace(np.atleast_2d(covariance)) / pixels.shape[1])
            means.append(members.mean(axis=0))
            precisions.append(np.linalg.inv(covariance))
            log_determinants.append(np.linalg.slogdet(covariance)[1])
        self.means, self.precisions, self.log_determinants = np.array(means), np.array(precisions), np.array(log_determinants)
        return self

    def log_likelihoods(self, pixels: np.ndarray) -> np.ndarray:
        """``(M, K)`` Gaussian log-likelihoods (without the constant) of pixels ``(M, C)``."""
        centred = pixels.astype(np.float64)[:, None, :] - self.means[None]
        distances = np.einsum("mkc,kcd,mkd->mk", centred, self.precisions, centred)
        return -0.5 * (distances + self.log_determinants[None])

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        return self.log_likelihoods(pixels).argmax(axis=1)

"""Model inputs from labelled chips, and the chip feature every classification head is trained on.

The chip feature is the spatial mean of ``forward_dense``, with (for heads on frozen features) each band's mean and
standard deviation over the chip beside it, since the chip's spectrum alone already separates many land covers. It
is the spatial mean of ``forward_dense`` (patch tokens for ViTs, the last feature map for CNNs;
for CNNs this equals the pooled global feature). Choosing it over the ViT CLS token makes a chip classifier usable
on maps: the same head applied to dense features averaged over a chip-sized sliding window gives a per-location
prediction that matches what it saw in training (see ``ChipClassifier.predict_dense``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from dinomc_core.data.bands import BandSet, match_bands as data_match_bands
from dinomc_core.data.labelled import ChipSet
from dinomc_core.data.normalization import Normalization
from dinomc_core.downstream.runtime import Runtime, evaluation_mode
from dinomc_core.errors import DinoMCError


def chip_feature(encoder: nn.Module, x: torch.Tensor, with_band_statistics: bool = False) -> torch.Tensor:
    """``(N, feature_dim)``: the mean of the encoder's dense features over the chip; with band statistics, followed
    by each normalised band's mean and standard deviation over the chip (``(N, feature_dim + 2 C)``)."""
    feature = encoder.forward_dense(x).mean(dim=(-2, -1))
    if not with_band_statistics:
        return feature
    return torch.cat([feature.float(), x.float().mean(dim=(-2, -1)), x.float().std(dim=(-2, -1))], dim=1)


def match_bands(available: Sequence[str], names_known: bool, required: Sequence[str]) -> list[int]:
    """Positions of the model's bands (in model order) among the data's bands, through the one band matcher (by name,
    else wavelength); unnamed data with as many bands is taken in order. A missing band is an error."""
    return data_match_bands(
        BandSet(tuple(available), names_known), BandSet(tuple(required)), "the data", "the encoder",
        unnamed_by_position=True,
    ).indices


def target_vector(target: tuple[int, ...], num_classes: int, multilabel: bool) -> torch.Tensor:
    """A class index (single-label) or a multi-hot float vector (multi-label)."""
    if not multilabel:
        return torch.tensor(target[0])
    vector = torch.zeros(num_classes)
    vector[list(target)] = 1.0
    return vector


def random_dihedral(x: torch.Tensor) -> torch.Tensor:
    """One of the 8 flips and right-angle rotations, at random (overhead imagery has no up)."""
    if torch.rand(()) < 0.5:
        x = x.flip(-1)
    return torch.rot90(x, int(torch.randint(0, 4, ())), dims=(-2, -1))


class ChipTensors(Dataset):
    """Normalised chips in the model's band order, with their targets; optional random flips and rotations."""

    def __init__(self, chip_set: ChipSet, band_indices: list[int], normalization: Normalization, augment: bool = False):
        self.chip_set = chip_set
        self.band_indices = band_indices
        self.normalization = normalization
        self.augment = augment

    def __len__(self) -> int:
        return len(self.chip_set)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        raw = self.chip_set.read(index)[self.band_indices].astype(np.float32)
        size = self.chip_set.chip_size
        if raw.shape[-2:] != (size, size):
            raise DinoMCError(
                f"{self.chip_set.chips[index].source.name} is {raw.shape[-1]}x{raw.shape[-2]} px but the chips of this "
                f"data set are {size}x{size} px; give every chip the same size"
            )
        x = torch.from_numpy(self.normalization.apply(raw))
        if self.augment:
            x = random_dihedral(x)
        chip = self.chip_set.chips[index]
        return x, target_vector(chip.target, len(self.chip_set.classes), self.chip_set.multilabel)


def extract_features(
    encoder: nn.Module, dataset: Dataset, runtime: Runtime, batch_size: int = 64, with_band_statistics: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Chip features ``(N, D)`` (float32, on the CPU) and targets of a whole data set, with a frozen encoder."""
    features, targets = [], []
    with evaluation_mode(encoder):
        for x, target in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            with runtime.autocast():
                features.append(chip_feature(encoder, x.to(runtime.device), with_band_statistics).float().cpu())
            targets.append(target)
    return torch.cat(features), torch.cat(targets)

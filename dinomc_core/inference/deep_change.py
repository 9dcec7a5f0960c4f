"""Label-free change as deep change vector analysis: distances between the two dates' fused per-pixel features.

Classic change vector analysis measures, at each pixel, how far the standardised spectrum moved between two dates.
Here the vector also holds the bands' texture and DINO-MC context by default (``CHANGE_GROUPS`` in
``dinomc_core.downstream.pixel_features``), so a pixel changes when its spectrum or its surroundings changed. Each date is standardised robustly on the scene
(median and scaled median absolute deviation per feature), which removes illumination and season offsets as
classic CVA's per-date standardisation does, without letting the changed pixels set the scale. Each feature group
gives a distance per pixel, divided by its median over the scene (about 1 is an ordinary, unchanged pixel), and the
magnitude is a weighted mean of the groups' distances, whatever their widths. A group's weight is how far the 99th
percentile of its distance lies above the median: a group whose distances have a long tail of changed pixels gets
more say than one whose distances look like noise. On the 10 OSCD cities this kept the fused magnitude at or above
change vector analysis with 13, 6 (Landsat-like) and 3 (RGB) bands, where equal weights fell 0.2 points of AUC
below it with 6 bands; with the texture it is above a smoothed CVA's too, in F1 and AUC (docs/results.md). The magnitude is then smoothed with a gaussian of 1 px, as change
vector analysis often is: a lone pixel that differs (noise, a misregistered edge) counts less than a changed patch,
which raised the AUC by 2.4 to 4.2 points on those cities.

The statistics come from tiles spread evenly over the scene, read through the same reader and encoder as the map.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dinomc_core.data.normalization import Normalization
from dinomc_core.downstream.pixel_features import CHANGE_GROUPS, FeatureFusion, fused_layout
from dinomc_core.downstream.projection import spread_indices
from dinomc_core.errors import DinoMCError
from dinomc_core.filters import gaussian_blur
from dinomc_core.inference.engine import EngineOptions, TilePredictor, TileReader

STATISTICS_TILES = 16
"""Tiles, evenly spread over the scene, that the projection, the robust statistics and the group scales come from."""
TAIL_QUANTILE = 0.99
"""The quantile of a group's scaled distance whose excess over the median (1) weighs the group."""
STATISTICS_PIXELS = 4096
"""Valid pixels per tile kept for the statistics."""
STATISTICS_BATCH = 4
"""Tiles computed at once while fitting (bounds memory)."""
MAD_TO_STD = 1.4826
"""Scales a median absolute deviation to a standard deviation for Gaussian data."""
MAGNITUDE_SMOOTHING = 1.0
"""Sigma (px) of the gaussian that smooths the magnitude."""


class DeepChangeVectors(TilePredictor):
    """Change magnitude of stacked two-date tiles ``(N, 2C, T, T)``: the weighted mean over feature groups of the
    scaled distance between the dates' robustly standardised fused features, smoothed, at pixel resolution."""

    default_tile = 256

    def __init__(self, encoder: nn.Module, fusion: FeatureFusion) -> None:
        super().__init__()
        self.encoder, self.fusion = encoder, fusion
        self.channels = 1
        self.multiple = encoder.patch_size
        self.context = max(2 * encoder.patch_size if fusion.uses_encoder else 0, math.ceil(3 * MAGNITUDE_SMOOTHING))
        dim = fusion.layout.dim
        self.register_buffer("centre", torch.zeros(2, dim))
        self.register_buffer("spread", torch.ones(2, dim))
        groups = len(fusion.layout.group_sizes())
        self.register_buffer("group_scale", torch.ones(groups))
        self.register_buffer("group_weight", torch.full((groups,), 1.0 / groups))

    def date_features(self, tiles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unscaled fused features ``(N, D, T, T)`` of the before and after halves of the tiles."""
        before, after = tiles.chunk(2, dim=1)
        both = torch.cat([before, after])
        features = self.fusion.raw(both, self.fusion.encoder_levels(self.encoder, both)).float()
        return features.chunk(2)

    def group_distances(self, before: torch.Tensor, after: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """Per group, the root-mean-square difference of the robustly standardised features: ``(N, G, ...)``."""
        shape = [1] * before.ndim
        shape[dim] = -1
        standardised = [(features - self.centre[date].view(shape)) / self.spread[date].view(shape)
                        for date, features in enumerate((before, after))]
        squared = (standardised[1] - standardised[0]).square()
        parts = squared.split(list(self.fusion.layout.group_sizes().values()), dim=dim)
        return torch.stack([part.mean(dim=dim).sqrt() for part in parts], dim=dim)

    def weights_text(self) -> str:
        """The groups' weights in the magnitude, for the log (e.g. ``bands 0.71, context 0.29``)."""
        names = self.fusion.layout.group_sizes()
        return ", ".join(f"{name} {float(weight):.2f}" for name, weight in zip(names, self.group_weight))

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        before, after = self.date_features(tiles)
        distances = self.group_distances(before, after) / self.group_scale.view(1, -1, 1, 1)
        magnitude = (distances * self.group_weight.view(1, -1, 1, 1)).sum(dim=1, keepdim=True)
        return gaussian_blur(magnitude, MAGNITUDE_SMOOTHING)


def deep_change_vectors(encoder: nn.Module, reader: TileReader, normalization: Normalization, bands: Sequence[str],
                        options: EngineOptions, groups: Sequence[str] = CHANGE_GROUPS) -> DeepChangeVectors:
    """A ``DeepChangeVectors`` with its projection, per-date robust statistics and group scales fitted on the scene."""
    layout = fused_layout(encoder, bands, groups)
    predictor = DeepChangeVectors(encoder, FeatureFusion(layout, normalization, bands)).eval()
    tiles, keep = statistics_tiles(reader, predictor, options)
    chunks = list(zip(tiles.split(STATISTICS_BATCH), keep.split(STATISTICS_BATCH)))
    with torch.inference_mode():
        if predictor.fusion.uses_encoder:
            predictor.fusion.fit_projection(
                predictor.fusion.encoder_levels(encoder, torch.cat(chunk.chunk(2, dim=1))) for chunk, _ in chunks
            )
        pairs = [[features.permute(0, 2, 3, 1)[mask] for features in predictor.date_features(chunk)]
                 for chunk, mask in chunks]
        before, after = (torch.cat(dates) for dates in zip(*pairs))
        for date, features in enumerate((before, after)):
            median = features.median(dim=0).values
            spread = (features - median).abs().median(dim=0).values * MAD_TO_STD
            predictor.centre[date] = median
            predictor.spread[date] = spread.clamp_min(1e-3 * float(spread.mean()) + 1e-6)
        distances = predictor.group_distances(before, after, dim=-1)
        predictor.group_scale.copy_(distances.median(dim=0).values.clamp_min(1e-6))
        predictor.group_weight.copy_(tail_weights(distances / predictor.group_scale))
    return predictor


def tail_weights(scaled_distances: torch.Tensor) -> torch.Tensor:
    """Weights summing to 1 of groups whose distances ``(M, G)`` have median 1: each group's excess of the 99th
    percentile over the median (a floor keeps a tail-less group in play)."""
    tails = (torch.quantile(scaled_distances.float(), TAIL_QUANTILE, dim=0) - 1.0).clamp_min(0.0)
    tails = tails.clamp_min(1e-3 * float(tails.max()) + 1e-6)
    return tails / tails.sum()


def statistics_tiles(reader: TileReader, predictor: TilePredictor, options: EngineOptions
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to 16 tiles spread over the scene ``(N, 2C, T, T)`` and a mask ``(N, T, T)`` of a random share of their
    valid pixels (at most 4096 per tile)."""
    grid = options.grid(reader.height, reader.width, predictor)
    windows = [window for _, _, window in grid.windows()]
    chosen = spread_indices(len(windows), STATISTICS_TILES)
    rng = np.random.default_rng(0)
    tiles, masks = [], []
    for index in chosen:
        tile = reader.read(windows[index])
        if not tile.valid.any():
            continue
        keep = np.zeros(tile.valid.size, dtype=bool)
        positions = np.flatnonzero(tile.valid)
        keep[rng.choice(positions, size=min(STATISTICS_PIXELS, len(positions)), replace=False)] = True
        tiles.append(tile.data)
        masks.append(keep.reshape(tile.valid.shape))
    if not tiles:
        raise DinoMCError("the two images have no valid pixel in common, so no change can be measured")
    return torch.from_numpy(np.stack(tiles)), torch.from_numpy(np.stack(masks))

"""Per-patch embedding rasters: the encoder's dense features on the input's footprint, or their principal components.

The output grid has one cell per patch (ViT) or per output stride (CNN): the input's transform scaled by that
stride, starting at the same corner. Full embeddings are stored as 16-bit floats; ``components`` projects them
onto the first principal components, fitted on features of tiles spread over the raster (through the same
reader and model as the map, so one pass over the raster suffices).
"""
from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dinomc_core.data import open_scene
from dinomc_core.downstream.projection import Projection, principal_components, project_maps, spread_indices
from dinomc_core.errors import DinoMCError
from dinomc_core.inference.engine import (
    EngineOptions,
    ModelRunner,
    TilePredictor,
    TileReader,
    bounded_block_cache,
    downsample_valid,
    run_tiled,
)
from dinomc_core.inference.sources import band_source
from dinomc_core.inference.writers import GeoTiffWriter, GridSpec, OutputSet, RasterStyle, check_outputs
from dinomc_core.models import load_model
from dinomc_core.progress import Progress, SilentProgress

PCA_SAMPLE_TILES = 16
"""Tiles, evenly spread over the raster, whose features fit the principal components."""


class PatchEmbeddings(TilePredictor):
    """The encoder's per-patch features ``(N, D, T / stride, T / stride)``, projected when a projection is given."""

    def __init__(self, encoder: nn.Module, projection: Projection | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.stride = self.multiple = encoder.patch_size
        self.context = 2 * encoder.patch_size
        self.channels = encoder.feature_dim if projection is None else len(projection.components)
        self.register_buffer("mean", None if projection is None else projection.mean)
        self.register_buffer("components", None if projection is None else projection.components)

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        features = self.encoder.forward_dense(tiles).float()
        if self.components is None:
            return features
        return project_maps(features, self.mean, self.components)


def fit_projection(reader: TileReader, encoder: nn.Module, components: int, options: EngineOptions) -> Projection:
    """Principal components of the valid per-patch features of up to 16 tiles spread evenly over the raster."""
    predictor = PatchEmbeddings(encoder)
    if not 1 <= components <= predictor.channels:
        raise DinoMCError(f"--components must be between 1 and the encoder's {predictor.channels} features, not {components}")
    grid = options.grid(reader.height, reader.width, predictor)
    windows = [window for _, _, window in grid.windows()]
    chosen = spread_indices(len(windows), PCA_SAMPLE_TILES)
    runner = ModelRunner(predictor, options)
    samples = []
    for index in chosen:
        tile = reader.read(windows[index])
        valid = downsample_valid(tile.valid, predictor.stride)
        if valid.any():
            features = runner([tile.data])[0]
            samples.append(features[:, valid].T)
    if not samples:
        raise DinoMCError("the raster has no valid pixel to compute principal components from")
    return principal_components(torch.from_numpy(np.concatenate(samples)), components)


def embed_scene(
    encoder: nn.Module,
    input_path: str | os.PathLike,
    output: str | os.PathLike,
    components: int | None = None,
    bands: list[str] | str | None = None,
    options: EngineOptions = EngineOptions(),
    progress: Progress | None = None,
    cog: bool = False,
) -> GridSpec:
    """Write the per-patch embeddings (float16) or their ``components`` principal components; returns the output grid."""
    progress = progress or SilentProgress()
    with bounded_block_cache(), OutputSet([output], [input_path]) as files, open_scene(input_path) as scene:
        reader = TileReader([band_source(scene, encoder.metadata, bands, progress)])
        projection = fit_projection(reader, encoder, components, options) if components else None
        predictor = PatchEmbeddings(encoder, projection)
        grid = GridSpec(scene.crs, scene.transform, scene.width, scene.height).scaled(predictor.stride)
        prefix = "component" if projection is not None else "feature"
        style = RasterStyle(descriptions=tuple(f"{prefix} {index + 1}" for index in range(predictor.channels)))
        with ExitStack() as writers:
            writer = writers.enter_context(
                GeoTiffWriter(files, Path(output), grid, predictor.channels, "float16", float("nan"), style, cog)
            )
            run_tiled(reader, predictor, lambda _, values, valid: writer.write_rows(np.where(valid, values, np.nan)),
                      options, progress, "embedding tiles")
            writer.finish()
    return grid


def embed_file(
    model_path: str | os.PathLike,
    input_path: str | os.PathLike,
    output: str | os.PathLike,
    components: int | None = None,
    bands: list[str] | str | None = None,
    options: EngineOptions = EngineOptions(),
    progress: Progress | None = None,
    cog: bool = False,
) -> GridSpec:
    """Load any model file's encoder and write the embeddings of a raster (what the CLI and the QGIS plugin call)."""
    check_outputs([Path(output)], [Path(model_path)])
    return embed_scene(load_model(model_path), input_path, output, components, bands, options, progress, cog)

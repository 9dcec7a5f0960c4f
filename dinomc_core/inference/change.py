"""Change maps between two dates: a supervised change model, or label-free deep change vector analysis.

Both methods run through the tiled engine on the two dates stacked along the bands (the after image warped onto
the before image's grid when they differ). ``embedding`` is deep change vector analysis on fused per-pixel
features (bands, indices, DINO-MC context; ``dinomc_core.inference.deep_change``). The first pass writes the
change magnitude (probability of change, or deep CVA magnitude) and histograms it; the threshold is given, found
from the histogram (minimum-error thresholding by default, or Otsu's), or set by the share of the area expected to
have changed; a second pass turns the magnitude into the change raster: 0 nodata, 1 unchanged, 2 changed.
"""
from __future__ import annotations

import os
from contextlib import ExitStack
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.windows import Window
from torch import nn

from dinomc_core.data import Scene, open_scene
from dinomc_core.data.normalization import Normalization
from dinomc_core.downstream.pixel_features import CHANGE_GROUPS
from dinomc_core.downstream.task_model import load_task_model
from dinomc_core.downstream.thresholds import Histogram
from dinomc_core.errors import DinoMCError
from dinomc_core.inference.align import align_to
from dinomc_core.inference.deep_change import DeepChangeVectors, deep_change_vectors
from dinomc_core.inference.areas import SQUARE_METRES_PER_HECTARE, pixel_areas_by_row
from dinomc_core.inference.engine import EngineOptions, TilePredictor, TileReader, bounded_block_cache, run_tiled
from dinomc_core.inference.sources import band_source, check_task
from dinomc_core.inference.vectorize import polygonize
from dinomc_core.inference.writers import BLOCK_SIZE, GeoTiffWriter, GridSpec, OutputSet, RasterStyle, check_outputs
from dinomc_core.models import load_model
from dinomc_core.progress import Progress, SilentProgress

METHODS = ("supervised", "embedding")
NODATA, UNCHANGED, CHANGED = 0, 1, 2
CHANGE_STYLE = RasterStyle(
    descriptions=("change",),
    colormap={NODATA: (0, 0, 0, 0), UNCHANGED: (230, 230, 230, 255), CHANGED: (228, 26, 28, 255)},
    category_names=("nodata", "unchanged", "changed"),
)
HISTOGRAM_RANGES = {"supervised": (0.0, 1.0), "embedding": (0.0, 32.0)}
"""Probabilities lie in 0 to 1; deep CVA magnitudes are about 1 where nothing changed (larger ones count as 32)."""
HISTOGRAM_BINS = 8192
SUPERVISED_THRESHOLD = 0.5
"""A change model's probability above one half means change; deep CVA magnitudes have no such scale."""


@dataclass(frozen=True)
class ThresholdRule:
    """How the change threshold is set: a ``value``, else an expected changed ``share`` (0 to 1) of the valid
    area, else ``method`` on the magnitude's histogram (supervised models: 0.5 unless a value or share is given)."""

    value: float | None = None
    share: float | None = None
    method: str = "minimum-error"

    def resolve(self, change_method: str, histogram: Histogram) -> float:
        if self.value is not None:
            return self.value
        if self.share is not None:
            return histogram.share_threshold(self.share)
        return SUPERVISED_THRESHOLD if change_method == "supervised" else histogram.threshold(self.method)


def threshold_rule(threshold: float | ThresholdRule | None) -> ThresholdRule:
    """A rule from a plain number (or None: automatic)."""
    return threshold if isinstance(threshold, ThresholdRule) else ThresholdRule(value=threshold)


@dataclass(frozen=True)
class ChangeOutputs:
    """Where to write: the change raster and, optionally, the magnitude raster and change polygons."""

    change: Path
    magnitude: Path | None = None
    polygons: Path | None = None
    min_area: float = 0.0
    cog: bool = False

    def paths(self) -> list[Path]:
        return [Path(path) for path in (self.change, self.magnitude, self.polygons) if path]


@dataclass(frozen=True)
class ChangeStats:
    """What changed: the threshold used, changed and valid pixels, changed area."""

    threshold: float
    changed_pixels: int
    valid_pixels: int
    changed_hectares: float

    @property
    def changed_percent(self) -> float:
        return 100.0 * self.changed_pixels / max(self.valid_pixels, 1)


class SupervisedChange(TilePredictor):
    """A change task model's probability of change, at pixel resolution."""

    def __init__(self, change_model: nn.Module) -> None:
        super().__init__()
        self.change_model = change_model
        self.channels = 1
        self.multiple = change_model.multiple
        self.context = change_model.multiple

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        before, after = tiles.chunk(2, dim=1)
        return self.change_model(before, after).float().sigmoid()


class MagnitudeSink:
    """Writes the blended change magnitude and histograms its valid values."""

    def __init__(self, writer: GeoTiffWriter, value_range: tuple[float, float]) -> None:
        self.writer = writer
        self.histogram = Histogram(*value_range, HISTOGRAM_BINS)

    def __call__(self, first_row: int, magnitude: np.ndarray, valid: np.ndarray) -> None:
        self.writer.write_rows(np.where(valid, magnitude, np.nan))
        self.histogram.add(magnitude[0][valid])


def threshold_magnitude(magnitude: Path, threshold: float, writer: GeoTiffWriter) -> ChangeStats:
    """Second pass: magnitude above ``threshold`` is changed; NaN is nodata. Counts changed pixels and area."""
    changed = valid = 0
    area = 0.0
    with rasterio.open(magnitude) as dataset:
        for top in range(0, dataset.height, BLOCK_SIZE):
            window = Window(0, top, dataset.width, min(BLOCK_SIZE, dataset.height - top))
            values = dataset.read(1, window=window)
            known = np.isfinite(values)
            change = np.where(known, np.where(values > threshold, CHANGED, UNCHANGED), NODATA).astype(np.uint8)
            writer.write_rows(change[None])
            per_row = (change == CHANGED).sum(axis=1)
            area += float(np.nansum(per_row * pixel_areas_by_row(dataset.crs, dataset.transform, top, window.height)))
            changed += int(per_row.sum())
            valid += int(known.sum())
    hectares = area / SQUARE_METRES_PER_HECTARE if changed else 0.0
    return ChangeStats(threshold, changed, valid, hectares)


def aligned_after(before: Scene, after: Scene, progress: Progress) -> Scene:
    """The after image on the before image's grid; says so when it had to be reprojected."""
    aligned = align_to(after, before)
    if aligned is not after:
        progress.log(
            f"the after image ({after.crs}, {after.width}x{after.height} px) was reprojected onto the before "
            f"image's grid ({before.crs}, {before.width}x{before.height} px)"
        )
    return aligned


def change_predictor(model: nn.Module, method: str, reader: TileReader, options: EngineOptions,
                     features: Sequence[str] = CHANGE_GROUPS) -> TilePredictor:
    """The per-tile change magnitude of ``method``: a change model's probability, or deep CVA fitted on the scene."""
    if method == "supervised":
        return SupervisedChange(model)
    if method == "embedding":
        normalization = Normalization.from_dict(model.metadata.normalization)
        return deep_change_vectors(model, reader, normalization, model.metadata.bands, options, features)
    raise DinoMCError(f"unknown change method {method!r}; choose one of {', '.join(METHODS)}")


def detect_change(
    model: nn.Module,
    method: str,
    before_path: str | os.PathLike,
    after_path: str | os.PathLike,
    outputs: ChangeOutputs,
    threshold: float | ThresholdRule | None = None,
    bands: list[str] | str | None = None,
    options: EngineOptions = EngineOptions(),
    progress: Progress | None = None,
    features: Sequence[str] = CHANGE_GROUPS,
) -> ChangeStats:
    """Map the change between two dates with a loaded model (change task model or encoder, per ``method``);
    ``features`` are the fused feature groups of deep CVA."""
    progress = progress or SilentProgress()
    if method not in METHODS:
        raise DinoMCError(f"unknown change method {method!r}; choose one of {', '.join(METHODS)}")
    rule = threshold_rule(threshold)
    with bounded_block_cache(), OutputSet(outputs.paths(), [before_path, after_path]) as files, \
            open_scene(before_path) as before, open_scene(after_path) as after:
        after = aligned_after(before, after, progress)
        reader = TileReader([band_source(scene, model.metadata, bands, progress) for scene in (before, after)])
        grid = GridSpec(before.crs, before.transform, before.width, before.height)
        predictor = change_predictor(model, method, reader, options, features)
        if isinstance(predictor, DeepChangeVectors):
            progress.log(f"feature groups' weights in the change magnitude: {predictor.weights_text()}")
        with ExitStack() as writers:
            magnitude = writers.enter_context(magnitude_writer(files, outputs, grid))
            sink = MagnitudeSink(magnitude, HISTOGRAM_RANGES[method])
            run_tiled(reader, predictor, sink, options, progress, f"{method} change")
            magnitude.finish()
            chosen = rule.resolve(method, sink.histogram)
            progress.log(f"change threshold: {chosen:.4f}")
            change = writers.enter_context(
                GeoTiffWriter(files, outputs.change, grid, 1, "uint8", NODATA, CHANGE_STYLE, outputs.cog)
            )
            stats = threshold_magnitude(magnitude.path, chosen, change)
            change.finish()
            progress.log(f"changed: {stats.changed_percent:.2f} % of the valid area ({stats.changed_hectares:.2f} ha)")
        if outputs.polygons:
            polygonize(change.path, files.temp(outputs.polygons), {CHANGED: "changed"}, outputs.min_area, layer="changes")
    return stats


def magnitude_writer(files: OutputSet, outputs: ChangeOutputs, grid: GridSpec) -> GeoTiffWriter:
    """The magnitude raster (float32, NaN nodata): the requested output, or a scratch file the threshold pass reads."""
    style = RasterStyle(descriptions=("change magnitude",))
    if outputs.magnitude:
        return GeoTiffWriter(files, Path(outputs.magnitude), grid, 1, "float32", float("nan"), style, outputs.cog)
    scratch = files.scratch(Path(outputs.change).parent, ".tif")
    return GeoTiffWriter(files, scratch, grid, 1, "float32", float("nan"), style)


def load_change_model(model_path: str | os.PathLike, method: str) -> nn.Module:
    """The model ``method`` needs: a change task model (supervised) or the encoder of any model file (embedding)."""
    if method == "supervised":
        model = load_task_model(model_path)
        check_task(model.metadata, ("change",), Path(model_path).name, "--method supervised")
        return model
    if method == "embedding":
        return load_model(model_path)
    raise DinoMCError(f"unknown change method {method!r}; choose one of {', '.join(METHODS)}")


def detect_change_files(
    model_path: str | os.PathLike,
    method: str,
    before_path: str | os.PathLike,
    after_path: str | os.PathLike,
    outputs: ChangeOutputs,
    threshold: float | ThresholdRule | None = None,
    bands: list[str] | str | None = None,
    options: EngineOptions = EngineOptions(),
    progress: Progress | None = None,
    features: Sequence[str] = CHANGE_GROUPS,
) -> ChangeStats:
    """Load the model file and map the change between two dates (what the CLI and the QGIS plugin call)."""
    check_outputs(outputs.paths(), [Path(model_path)])
    model = load_change_model(model_path, method)
    return detect_change(model, method, before_path, after_path, outputs, threshold, bands, options, progress, features)

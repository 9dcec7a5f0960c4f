"""Change maps between two dates: a supervised change model, or the cosine distance of DINO-MC embeddings.

Both methods run through the tiled engine on the two dates stacked along the bands (the after image warped onto
the before image's grid when they differ). The first pass writes the change magnitude (probability of change, or
embedding distance brought back to pixel resolution) and histograms it; the threshold is given or found by Otsu's
method on that histogram; a second pass turns the magnitude into the change raster: 0 nodata, 1 unchanged,
2 changed.
"""
from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import torch
import torch.nn.functional as F
from rasterio.windows import Window
from torch import nn

from dinomc_core.data import Scene, open_scene
from dinomc_core.downstream.task_model import load_task_model
from dinomc_core.errors import DinoMCError
from dinomc_core.inference.align import align_to
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
HISTOGRAM_RANGE = (0.0, 2.0)
"""Magnitudes are probabilities (0 to 1) or cosine distances (0 to 2)."""
HISTOGRAM_BINS = 4096
SUPERVISED_THRESHOLD = 0.5
"""A change model's probability above one half means change; embedding distances have no such scale (Otsu)."""


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


class EmbeddingDistance(TilePredictor):
    """Cosine distance (0 to 2) between the encoder's per-patch embeddings of the two dates, upsampled bilinearly."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.channels = 1
        self.multiple = encoder.patch_size
        self.context = 2 * encoder.patch_size

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        before, after = tiles.chunk(2, dim=1)
        features = self.encoder.forward_dense(torch.cat([before, after])).float()
        first, second = features.chunk(2)
        distance = 1.0 - F.cosine_similarity(first, second, dim=1, eps=1e-6)
        return F.interpolate(distance[:, None], size=tiles.shape[-2:], mode="bilinear", align_corners=False)


class Histogram:
    """Counts of values in fixed bins, accumulated strip by strip (for a threshold over the whole raster)."""

    def __init__(self, low: float, high: float, bins: int) -> None:
        self.edges = np.linspace(low, high, bins + 1)
        self.counts = np.zeros(bins, dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        self.counts += np.histogram(np.clip(values, self.edges[0], self.edges[-1]), bins=self.edges)[0]

    def otsu(self) -> float:
        """Otsu's threshold: the bin edge that maximises the between-class variance of the two sides.

        When a gap between the two populations leaves a plateau of equally good edges, its middle is taken.
        """
        if self.counts.sum() == 0:
            raise DinoMCError("the two images have no valid pixel in common, so no change threshold can be found")
        centres = (self.edges[:-1] + self.edges[1:]) / 2
        weight_low = np.cumsum(self.counts)[:-1].astype(np.float64)
        weight_high = self.counts.sum() - weight_low
        sum_low = np.cumsum(self.counts * centres)[:-1]
        mean_low = sum_low / np.maximum(weight_low, 1)
        mean_high = (np.sum(self.counts * centres) - sum_low) / np.maximum(weight_high, 1)
        between = weight_low * weight_high * (mean_low - mean_high) ** 2
        best = np.flatnonzero(between >= between.max() * (1 - 1e-9))
        return float(self.edges[1:-1][best[len(best) // 2]])


class MagnitudeSink:
    """Writes the blended change magnitude and histograms its valid values."""

    def __init__(self, writer: GeoTiffWriter) -> None:
        self.writer = writer
        self.histogram = Histogram(*HISTOGRAM_RANGE, HISTOGRAM_BINS)

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


def default_threshold(method: str, histogram: Histogram) -> float:
    """0.5 on a change model's probabilities; Otsu's threshold on embedding distances."""
    return SUPERVISED_THRESHOLD if method == "supervised" else histogram.otsu()


def change_predictor(model: nn.Module, method: str) -> TilePredictor:
    """The per-tile change magnitude of ``method`` with a loaded change model or encoder."""
    if method == "supervised":
        return SupervisedChange(model)
    if method == "embedding":
        return EmbeddingDistance(model)
    raise DinoMCError(f"unknown change method {method!r}; choose one of {', '.join(METHODS)}")


def detect_change(
    model: nn.Module,
    method: str,
    before_path: str | os.PathLike,
    after_path: str | os.PathLike,
    outputs: ChangeOutputs,
    threshold: float | None = None,
    bands: list[str] | str | None = None,
    options: EngineOptions = EngineOptions(),
    progress: Progress | None = None,
) -> ChangeStats:
    """Map the change between two dates with a loaded model (change task model or encoder, per ``method``)."""
    progress = progress or SilentProgress()
    predictor = change_predictor(model, method)
    with bounded_block_cache(), OutputSet(outputs.paths(), [before_path, after_path]) as files, \
            open_scene(before_path) as before, open_scene(after_path) as after:
        after = aligned_after(before, after, progress)
        reader = TileReader([band_source(scene, model.metadata, bands, progress) for scene in (before, after)])
        grid = GridSpec(before.crs, before.transform, before.width, before.height)
        with ExitStack() as writers:
            magnitude = writers.enter_context(magnitude_writer(files, outputs, grid))
            sink = MagnitudeSink(magnitude)
            run_tiled(reader, predictor, sink, options, progress, f"{method} change")
            magnitude.finish()
            chosen = default_threshold(method, sink.histogram) if threshold is None else threshold
            progress.log(f"change threshold: {chosen:.4f}")
            change = writers.enter_context(
                GeoTiffWriter(files, outputs.change, grid, 1, "uint8", NODATA, CHANGE_STYLE, outputs.cog)
            )
            stats = threshold_magnitude(magnitude.path, chosen, change)
            change.finish()
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
    threshold: float | None = None,
    bands: list[str] | str | None = None,
    options: EngineOptions = EngineOptions(),
    progress: Progress | None = None,
) -> ChangeStats:
    """Load the model file and map the change between two dates (what the CLI and the QGIS plugin call)."""
    check_outputs(outputs.paths(), [Path(model_path)])
    model = load_change_model(model_path, method)
    return detect_change(model, method, before_path, after_path, outputs, threshold, bands, options, progress)

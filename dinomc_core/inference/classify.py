"""Land-cover maps: class raster (uint8, colour table, class names), probabilities, confidence, polygons, summary.

The engine blends class probabilities (upsampled from feature to pixel resolution per tile); the class map is
their argmax, the confidence their maximum. Class 255 and NaN mark nodata.
"""
from __future__ import annotations

import csv
import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dinomc_core.data import open_scene
from dinomc_core.data.labelled import default_palette
from dinomc_core.downstream.task_model import PixelClassifier, load_task_model
from dinomc_core.errors import DinoMCError
from dinomc_core.inference.areas import SQUARE_METRES_PER_HECTARE, pixel_areas_by_row
from dinomc_core.inference.engine import EngineOptions, TilePredictor, TileReader, bounded_block_cache, run_tiled
from dinomc_core.inference.sources import band_source, check_task, matched_to
from dinomc_core.inference.vectorize import polygonize
from dinomc_core.inference.writers import GeoTiffWriter, GridSpec, OutputSet, RasterStyle, check_outputs
from dinomc_core.progress import Progress, SilentProgress

CLASS_NODATA = 255
MAP_TILE = 256
"""Default tile for maps: big enough to batch efficiently, small enough for any memory."""


@dataclass(frozen=True)
class ClassifyOutputs:
    """Where to write: the class raster and, optionally, probabilities, confidence, polygons and a summary."""

    classes: Path
    probabilities: Path | None = None
    confidence: Path | None = None
    polygons: Path | None = None
    summary: Path | None = None
    min_area: float = 0.0
    cog: bool = False

    def paths(self) -> list[Path]:
        return [Path(path) for path in (self.classes, self.probabilities, self.confidence, self.polygons, self.summary) if path]


@dataclass(frozen=True)
class ClassArea:
    """One row of the summary: how much of the valid area a class covers."""

    class_id: int
    name: str
    pixels: int
    hectares: float
    percent: float


class ClassProbabilities(TilePredictor):
    """A classification or multi-label task model's per-pixel class probabilities.

    Pixel classifiers give them at pixel resolution, on tiles of the window they were trained on; chip classifiers
    at feature resolution, brought to pixels bilinearly, on tiles of four chips with a chip of overlap.
    """

    def __init__(self, task_model: nn.Module) -> None:
        super().__init__()
        self.task_model = task_model
        metadata = task_model.metadata
        self.channels = len(metadata.classes)
        self.multiple = metadata.patch_size or 1
        if isinstance(task_model, PixelClassifier):
            self.default_tile, self.context = metadata.tile_size, 0
        else:
            self.default_tile, self.context = max(MAP_TILE, 4 * metadata.tile_size), metadata.tile_size

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        probabilities = self.task_model.predict_dense(tiles)
        return F.interpolate(probabilities.float(), size=tiles.shape[-2:], mode="bilinear", align_corners=False)


def class_style(classes: list[dict[str, str]]) -> RasterStyle:
    """Colour table and category names for a class raster; classes without a colour get a distinct one."""
    fallback = default_palette([entry["name"] for entry in classes])
    colormap = {index: hex_to_rgba(entry.get("color") or fallback[index]) for index, entry in enumerate(classes)}
    colormap[CLASS_NODATA] = (0, 0, 0, 0)
    names = [entry["name"] for entry in classes]
    tags = {f"CLASS_{index}": name for index, name in enumerate(names)}
    return RasterStyle(descriptions=("class",), colormap=colormap, category_names=names, tags=tags)


def hex_to_rgba(colour: str) -> tuple[int, int, int, int]:
    """``#rrggbb`` or ``#rrggbbaa`` as an RGBA tuple."""
    digits = colour.lstrip("#")
    if len(digits) not in (6, 8):
        raise DinoMCError(f"the class colour {colour!r} is not written as #rrggbb")
    values = [int(digits[index : index + 2], 16) for index in range(0, len(digits), 2)]
    return tuple(values + [255] * (4 - len(values)))  # type: ignore[return-value]


class ClassMapSink:
    """Turns blended probabilities into the requested rasters and counts pixels and area per class."""

    def __init__(
        self, outputs: ClassifyOutputs, files: OutputSet, grid: GridSpec, classes: list[dict[str, str]], writers: ExitStack
    ) -> None:
        self._grid = grid
        count = len(classes)
        if count >= CLASS_NODATA:
            raise DinoMCError(f"the model has {count} classes; class rasters hold at most {CLASS_NODATA} (255 is nodata)")
        self.pixels = np.zeros(count, dtype=np.int64)
        self.area_m2 = np.zeros(count, dtype=np.float64)
        names = tuple(entry["name"] for entry in classes)
        self.classes = writers.enter_context(
            GeoTiffWriter(files, outputs.classes, grid, 1, "uint8", CLASS_NODATA, class_style(classes), outputs.cog)
        )
        self.probabilities = outputs.probabilities and writers.enter_context(GeoTiffWriter(
            files, outputs.probabilities, grid, count, "float32", float("nan"), RasterStyle(descriptions=names), outputs.cog
        ))
        self.confidence = outputs.confidence and writers.enter_context(GeoTiffWriter(
            files, outputs.confidence, grid, 1, "float32", float("nan"), RasterStyle(descriptions=("confidence",)), outputs.cog
        ))

    def writers(self) -> list[GeoTiffWriter]:
        return [writer for writer in (self.classes, self.probabilities, self.confidence) if writer]

    def finish(self) -> None:
        """Land every raster (they are renamed onto their final paths when the whole run succeeds)."""
        for writer in self.writers():
            writer.finish()

    def __call__(self, first_row: int, probabilities: np.ndarray, valid: np.ndarray) -> None:
        classes = np.where(valid, probabilities.argmax(axis=0), CLASS_NODATA).astype(np.uint8)
        self.classes.write_rows(classes[None])
        if self.confidence:
            self.confidence.write_rows(np.where(valid, probabilities.max(axis=0), np.nan)[None])
        if self.probabilities:
            self.probabilities.write_rows(np.where(valid, probabilities, np.nan))
        self._tally(first_row, classes)

    def _tally(self, first_row: int, classes: np.ndarray) -> None:
        areas = pixel_areas_by_row(self._grid.crs, self._grid.transform, first_row, classes.shape[0])
        count = len(self.pixels)
        for row_classes, area in zip(classes, areas):
            row_counts = np.bincount(row_classes[row_classes < count], minlength=count)
            self.pixels += row_counts
            self.area_m2 += row_counts * area

    def summary(self, names: list[str]) -> list[ClassArea]:
        total = max(int(self.pixels.sum()), 1)
        return [
            ClassArea(index, name, int(pixels), float(area) / SQUARE_METRES_PER_HECTARE, 100.0 * pixels / total)
            for index, (name, pixels, area) in enumerate(zip(names, self.pixels, self.area_m2))
        ]


def write_summary_csv(path: Path, rows: list[ClassArea]) -> None:
    """``class_id, class_name, pixels, hectares, percent`` per class (percent of the valid pixels)."""
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["class_id", "class_name", "pixels", "hectares", "percent"])
        for row in rows:
            hectares = "" if np.isnan(row.hectares) else f"{row.hectares:.4f}"
            writer.writerow([row.class_id, row.name, row.pixels, hectares, f"{row.percent:.4f}"])


def classify_scene(
    task_model: nn.Module,
    input_path: str | os.PathLike,
    outputs: ClassifyOutputs,
    bands: list[str] | str | None = None,
    options: EngineOptions = EngineOptions(),
    progress: Progress | None = None,
    match_to: str | os.PathLike | None = None,
) -> list[ClassArea]:
    """Classify a raster with a loaded classification or multi-label task model; returns the per-class summary.

    With ``match_to`` (the scene the classifier was trained on, say) each band of the input is first scaled to that
    raster's mean and standard deviation, so that a scene of another date or season is mapped as the training one.
    """
    progress = progress or SilentProgress()
    metadata = task_model.metadata
    check_task(metadata, ("classification", "multilabel"), "the model file", "a land-cover map")
    with bounded_block_cache(), OutputSet(outputs.paths(), [input_path]) as files, open_scene(input_path) as scene:
        source = band_source(scene, metadata, bands, progress)
        if match_to is not None:
            with open_scene(match_to) as reference:
                source = matched_to(source, band_source(reference, metadata, bands, progress))
            gains = np.asarray(source.normalization.scale) / np.asarray(metadata.normalization["scale"])
            progress.log(f"bands scaled to the mean and spread of {Path(match_to).name} (gains "
                         f"{gains.min():.2f} to {gains.max():.2f})")
        reader = TileReader([source])
        grid = GridSpec(scene.crs, scene.transform, scene.width, scene.height)
        with ExitStack() as writers:
            sink = ClassMapSink(outputs, files, grid, metadata.classes, writers)
            run_tiled(reader, ClassProbabilities(task_model), sink, options, progress, "classifying tiles")
            sink.finish()
        rows = sink.summary(metadata.class_names)
        if outputs.polygons:
            names = dict(enumerate(metadata.class_names))
            polygonize(sink.classes.path, files.temp(outputs.polygons), names, outputs.min_area, layer="classes")
        if outputs.summary:
            write_summary_csv(files.temp(outputs.summary), rows)
    return rows


def classify_file(
    model_path: str | os.PathLike,
    input_path: str | os.PathLike,
    outputs: ClassifyOutputs,
    bands: list[str] | str | None = None,
    options: EngineOptions = EngineOptions(),
    progress: Progress | None = None,
    match_to: str | os.PathLike | None = None,
) -> list[ClassArea]:
    """Load a task model file and classify a raster with it (what the CLI and the QGIS plugin call)."""
    check_outputs(outputs.paths(), [Path(model_path)])
    task_model = load_task_model(model_path)
    return classify_scene(task_model, input_path, outputs, bands, options, progress, match_to)

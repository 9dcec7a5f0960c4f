"""Labelled pixels for per-pixel heads: which pixels, their class, the shape each comes from, and the folds.

Pixels are drawn inside the labels (polygons, points, label-raster regions or whole chips), balanced per class and
capped. Validation holds out whole shapes (polygons, connected label regions, chips), never neighbouring pixels
of a training shape, so the reported accuracy is the one an analyst gets on areas they did not draw. Each class's
shapes are dealt to cross-validation folds, so that every shape is held out once and the accuracy rests on all of
them, not on one square per class. A class drawn as a single shape is split in two spatially instead (its last
rows validate), and the split says so. Chips keep the split of their data set (its validation chips are one fold).

Images are what the encoder sees around the pixels: windows of a raster (inside the raster, about the size of the
map's tiles, each pixel near the middle of its window) or whole chips.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from dinomc_core.data.labelled import ChipSet, default_palette
from dinomc_core.errors import DinoMCError

MAX_PIXELS_PER_CLASS = 4500
MAX_FOLDS = 5
LONE_SHAPE_VAL_FRACTION = 0.25
NEVER_HELD_OUT = -1
"""The fold of pixels that always train: the first rows of a lone shape, a data set's training chips."""


@dataclass
class PixelSamples:
    """Labelled pixels: ``image`` (index into ``read_image``), ``row``/``col`` in that image, class, shape, fold."""

    images: int
    read_image: Callable[[int], tuple[np.ndarray, np.ndarray]]
    """Raw values ``(C, h, w)`` and validity ``(h, w)`` of image ``index``, every band of the source."""
    image: np.ndarray
    row: np.ndarray
    col: np.ndarray
    target: np.ndarray
    shape: np.ndarray
    fold: np.ndarray
    """Cross-validation fold (0, 1, ...) in which the pixel is held out, or ``NEVER_HELD_OUT``."""
    classes: list[str]
    band_names: list[str]
    names_known: bool
    gsd: float | None = None
    colors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Sentences about the split that the user should read (e.g. a class validated inside its only polygon)."""

    def __post_init__(self) -> None:
        if not self.colors:
            self.colors = default_palette(self.classes)

    def __len__(self) -> int:
        return len(self.target)

    @property
    def held_out(self) -> np.ndarray:
        """Pixels that some fold holds out (the ones the reported accuracy is measured on)."""
        return self.fold != NEVER_HELD_OUT


def shape_folds(target: np.ndarray, shape: np.ndarray, rows: np.ndarray, classes: list[str],
                rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """The fold of each labelled pixel: each class's shapes dealt at random to up to ``MAX_FOLDS`` folds (as many
    as the class with most shapes has, at least 2), or the last rows of a lone shape held out in fold 0."""
    shapes_per_class = [np.unique(shape[target == index]) for index in range(len(classes))]
    folds = min(MAX_FOLDS, max(2, max(len(shapes) for shapes in shapes_per_class)))
    fold = np.full(len(target), NEVER_HELD_OUT, dtype=np.int64)
    notes = []
    for class_index, (name, shapes) in enumerate(zip(classes, shapes_per_class)):
        members = target == class_index
        if len(shapes) >= 2:
            for position, shape_id in enumerate(rng.permutation(shapes)):
                fold[members & (shape == shape_id)] = position % folds
        elif members.sum() >= 2:
            cut = np.quantile(rows[members], 1.0 - LONE_SHAPE_VAL_FRACTION)
            fold[members & (rows >= cut)] = 0
            notes.append(f"class {name} was drawn as one shape, so it is validated on the last rows of that shape "
                         "(draw two or more shapes per class for an honest accuracy)")
    return fold, notes


def balanced_subsample(target: np.ndarray, num_classes: int, rng: np.random.Generator,
                       cap: int = MAX_PIXELS_PER_CLASS) -> np.ndarray:
    """Sorted indices of at most ``cap`` pixels of each class, drawn at random."""
    chosen = []
    for class_index in range(num_classes):
        members = np.flatnonzero(target == class_index)
        chosen.append(rng.choice(members, size=min(cap, len(members)), replace=False))
    return np.sort(np.concatenate(chosen))


def window_origin(index: int, stride: int, size: int, extent: int) -> int:
    """Start of window ``index`` along one axis: centred on its stride cell and kept inside the raster."""
    return int(min(max(index * stride - (size - stride) // 2, 0), extent - size))


def cover_pixels_with_windows(rows: np.ndarray, cols: np.ndarray, height: int, width: int,
                              size: int) -> tuple[list[Window], np.ndarray, np.ndarray, np.ndarray]:
    """Windows of ``size`` px inside the raster covering every pixel, each pixel in its window's middle half.

    Returns the windows, the window of each pixel and the pixel's row and column inside it.
    """
    size_y, size_x = min(size, height), min(size, width)
    stride_y, stride_x = max(size_y // 2, 1), max(size_x // 2, 1)
    cells = np.stack([rows // stride_y, cols // stride_x], axis=1)
    unique, inverse = np.unique(cells, axis=0, return_inverse=True)
    windows = [Window(window_origin(cx, stride_x, size_x, width), window_origin(cy, stride_y, size_y, height), size_x, size_y)
               for cy, cx in unique]
    inverse = inverse.reshape(-1)
    row_off = np.array([int(window.row_off) for window in windows])[inverse]
    col_off = np.array([int(window.col_off) for window in windows])[inverse]
    return windows, inverse, rows - row_off, cols - col_off


def pixels_from_label_array(
    raster: Path, labels: np.ndarray, shapes: np.ndarray, classes: list[str], window_size: int = 256, seed: int = 0,
) -> PixelSamples:
    """Samples from class values 1..K (0 unlabelled) and shape ids on the raster's grid."""
    from dinomc_core.data import open_scene

    with open_scene(raster) as scene:
        band_names, names_known, gsd = list(scene.band_names), scene.names_known, scene.gsd
        height, width = scene.height, scene.width
    if labels.shape != (height, width):
        raise DinoMCError(f"the labels are {labels.shape[1]}x{labels.shape[0]} px but the raster is {width}x{height} "
                          "px; put the labels on the raster's grid")
    rows, cols = np.nonzero(labels > 0)
    if len(rows) == 0:
        raise DinoMCError(f"no labelled pixel falls inside {raster.name}; check that the labels overlap the raster "
                          "and carry class values")
    target = labels[rows, cols] - 1
    empty = [name for index, name in enumerate(classes) if not np.any(target == index)]
    if empty:
        raise DinoMCError(f"the class(es) {', '.join(empty)} have no labelled pixel inside {raster.name}; draw them "
                          "over the raster or drop them from the class list")
    rng = np.random.default_rng(seed)
    shape = shapes[rows, cols]
    fold, notes = shape_folds(target, shape, rows, classes, rng)
    keep = balanced_subsample(target, len(classes), rng)
    rows, cols, target, shape, fold = rows[keep], cols[keep], target[keep], shape[keep], fold[keep]
    windows, image, row, col = cover_pixels_with_windows(rows, cols, height, width, window_size)

    def read_image(index: int) -> tuple[np.ndarray, np.ndarray]:
        with open_scene(raster) as source:
            return source.read(window=windows[index]), source.read_valid_mask(windows[index])

    return PixelSamples(len(windows), read_image, image, row, col, target, shape, fold, classes, band_names,
                        names_known, gsd, notes=notes)


def pixels_from_chips(chips: ChipSet, per_chip: int = 256, seed: int = 0) -> PixelSamples:
    """Samples drawn in labelled chips (each chip is one shape with the chip's class); ``val`` chips are fold 0."""
    if chips.multilabel:
        raise DinoMCError("per-pixel heads need one class per chip; this data set is multi-label")
    rng = np.random.default_rng(seed)
    size = chips.chip_size
    count = min(per_chip, size * size)
    parts = []
    for index, chip in enumerate(chips.chips):
        flat = rng.choice(size * size, size=count, replace=False)
        parts.append((np.full(count, index), flat // size, flat % size, np.full(count, chip.target[0]),
                      np.full(count, 0 if chip.split == "val" else NEVER_HELD_OUT)))
    image, row, col, target, fold = (np.concatenate(column) for column in zip(*parts))

    def read_image(index: int) -> tuple[np.ndarray, np.ndarray]:
        raw = chips.read(index)
        return raw, np.ones(raw.shape[-2:], dtype=bool)

    return PixelSamples(len(chips), read_image, image, row, col, target, image.copy(), fold, list(chips.classes),
                        list(chips.band_names), chips.names_known, chips.gsd, list(chips.colors))

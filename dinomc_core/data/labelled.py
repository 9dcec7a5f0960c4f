"""Labelled chips for classification: the common ``ChipSet`` and the generic formats.

Generic formats: a folder of class folders holding chips (any GDAL-readable image); a raster plus a label raster on
its grid (values 1..K are classes, 0 or nodata is unlabelled); a raster plus polygons or points with a class field
(any vector format geopandas reads). Chips cut from a large raster are centred on labelled pixels, at most one per
class in each ``stride`` x ``stride`` cell, and shifted to lie inside the raster.
"""
from __future__ import annotations

import colorsys
import random
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from dinomc_core.errors import DinoMCError

IMAGE_SUFFIXES = (".tif", ".tiff", ".jpg", ".jpeg", ".png", ".jp2")
SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validate": "val",
                 "validation": "val", "test": "test", "testing": "test"}


@dataclass(frozen=True)
class Chip:
    """One labelled example: where to read it and its target class indices (one, or several for multi-label)."""

    source: Path
    target: tuple[int, ...]
    split: str | None = None
    window: Window | None = None


@dataclass
class ChipSet:
    """Labelled chips of one data set, with what a model needs to know about them."""

    chips: list[Chip]
    classes: list[str]
    band_names: list[str]
    names_known: bool
    chip_size: int
    reader: Callable[[Chip], np.ndarray]
    multilabel: bool = False
    gsd: float | None = None
    colors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.colors:
            self.colors = default_palette(self.classes)

    def __len__(self) -> int:
        return len(self.chips)

    def read(self, index: int) -> np.ndarray:
        """Raw values ``(bands, chip_size, chip_size)`` of chip ``index``, in the file's dtype."""
        return self.reader(self.chips[index])

    def subset(self, split: str) -> "ChipSet":
        """The chips of one split (``train``, ``val`` or ``test``); an empty split is an error."""
        chips = [chip for chip in self.chips if chip.split == normalise_split(split)]
        if not chips:
            present = sorted({chip.split for chip in self.chips if chip.split})
            raise DinoMCError(f"the data has no {split!r} split; its splits are {', '.join(present) or 'none'}")
        return replace(self, chips=chips)

    def targets(self) -> list[tuple[int, ...]]:
        return [chip.target for chip in self.chips]


def normalise_split(name: str) -> str:
    """``train``, ``val`` or ``test`` for the usual spellings of split names."""
    key = name.strip().lower()
    if key not in SPLIT_ALIASES:
        raise DinoMCError(f"unknown split {name!r}; use train, val or test")
    return SPLIT_ALIASES[key]


CONVENTIONAL_COLOURS = (
    (("water", "river", "lake", "sea", "ocean", "flood", "wetland"), "#2b7bd6"),
    (("forest", "tree", "wood"), "#1f7a35"),
    (("vegetation", "grass", "pasture", "meadow", "shrub", "herbaceous"), "#6fbf4b"),
    (("crop", "agricultur", "farm", "field", "orchard", "vineyard"), "#e3c65a"),
    (("industr", "commercial"), "#9b6bb5"),
    (("road", "highway", "rail", "street"), "#7a7a7a"),
    (("built", "urban", "residential", "building", "city", "settlement", "roof"), "#d9534f"),
    (("bare", "soil", "sand", "rock", "desert", "quarry"), "#c9a27e"),
    (("snow", "ice", "cloud", "glacier"), "#eef3f7"),
)
"""Colours analysts expect for common class names (a name with a word that starts with a keyword gets its colour):
water blue, vegetation green, built-up red, as in land-cover legends such as CORINE's and ESA WorldCover's."""


def default_palette(classes: Sequence[str]) -> list[str]:
    """A colour ``#rrggbb`` per class name: the conventional one for names such as water, forest or built-up, and
    well separated hues (golden-ratio steps) for the others."""
    colours = []
    for index, name in enumerate(classes):
        words = [word.lower() for word in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", name)]  # "SeaLake", "built-up"
        conventional = [colour for keywords, colour in CONVENTIONAL_COLOURS
                        if any(word.startswith(keyword) for word in words for keyword in keywords)]
        red, green, blue = colorsys.hsv_to_rgb((index * 0.618033988749895) % 1.0, 0.65, 0.9)
        colours.append(conventional[0] if conventional else
                       f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}")
    return colours


def with_validation_split(chip_set: ChipSet, fraction: float = 0.2, seed: int = 0) -> ChipSet:
    """Give chips without a split ``train`` or ``val`` (per class for single-label data) when no ``val`` exists.

    Models are selected on validation data; data sets that ship no validation split get a fixed random one.
    """
    if any(chip.split == "val" for chip in chip_set.chips):
        return chip_set
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for index, chip in enumerate(chip_set.chips):
        if chip.split in (None, "train"):
            groups[chip.target if not chip_set.multilabel else ()].append(index)
    rng = random.Random(seed)
    validation: set[int] = set()
    for members in groups.values():
        rng.shuffle(members)
        validation.update(members[: max(1, round(len(members) * fraction))] if len(members) > 1 else [])
    chips = [
        replace(chip, split="val" if index in validation else (chip.split or "train"))
        for index, chip in enumerate(chip_set.chips)
    ]
    return replace(chip_set, chips=chips)


def check_every_class_has_samples(chip_set: ChipSet) -> None:
    """A class without any sample cannot be learned or evaluated: say which."""
    counts = np.zeros(len(chip_set.classes), dtype=np.int64)
    for chip in chip_set.chips:
        counts[list(chip.target)] += 1
    empty = [name for name, count in zip(chip_set.classes, counts) if count == 0]
    if empty and not chip_set.multilabel:
        raise DinoMCError(
            f"the class(es) {', '.join(empty)} have no samples; add samples or drop them from the class list"
        )


# ----------------------------------------------------------------------------- class folders


def scan_class_folders(root: Path) -> dict[str, list[Path]]:
    """Image files per class folder directly under ``root`` (sorted), for the class-per-folder layout."""
    if not root.is_dir():
        raise DinoMCError(f"the data folder {root} does not exist")
    folders = sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))
    files = {
        folder.name: sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
        for folder in folders
    }
    if not any(files.values()):
        raise DinoMCError(f"{root} holds no class folders with images (.tif, .jpg, .png) in them")
    empty = [name for name, paths in files.items() if not paths]
    if empty:
        raise DinoMCError(f"the class folder(s) {', '.join(empty)} in {root} hold no images; a class needs samples")
    return files


def read_whole_image(chip: Chip) -> np.ndarray:
    """All bands of a chip file."""
    from dinomc_core.data import open_scene

    with open_scene(chip.source) as scene:
        return scene.read()


def load_class_folders(root: str | Path) -> ChipSet:
    """Chips stored as ``root/<class>/<image>``; band names come from the first image."""
    from dinomc_core.data import open_scene

    files = scan_class_folders(Path(root))
    classes = list(files)
    chips = [Chip(path, (index,)) for index, name in enumerate(classes) for path in files[name]]
    with open_scene(chips[0].source) as scene:
        band_names, names_known, chip_size, gsd = list(scene.band_names), scene.names_known, scene.width, scene.gsd
    return ChipSet(chips, classes, band_names, names_known, chip_size, read_whole_image, gsd=gsd)


# ----------------------------------------------------------------------------- raster + labels


def parse_class_list(classes: str | Sequence[str] | None) -> list[str] | None:
    """Class names from ``"water,forest"`` or a list; None when not given."""
    if classes is None:
        return None
    names = classes.split(",") if isinstance(classes, str) else list(classes)
    cleaned = [name.strip() for name in names if name.strip()]
    if len(set(cleaned)) != len(cleaned):
        raise DinoMCError("the class list names a class twice; list each class once")
    return cleaned or None


def chip_centres(label_array: np.ndarray, stride: int) -> list[tuple[int, int, int]]:
    """``(row, col, class_value)`` of the first labelled pixel of each class in each ``stride`` cell."""
    rows, cols = np.nonzero(label_array > 0)
    values = label_array[rows, cols]
    cells = np.stack([rows // stride, cols // stride, values])
    _, first = np.unique(cells, axis=1, return_index=True)
    return [(int(rows[i]), int(cols[i]), int(values[i])) for i in sorted(first)]


def centred_window(row: int, col: int, size: int, height: int, width: int) -> Window:
    """A ``size`` window centred on a pixel, shifted to lie inside the raster."""
    if size > height or size > width:
        raise DinoMCError(
            f"chips of {size} px do not fit in a raster of {width}x{height} px; use a smaller --chip-size"
        )
    row_off = min(max(row - size // 2, 0), height - size)
    col_off = min(max(col - size // 2, 0), width - size)
    return Window(col_off, row_off, size, size)


def read_window(chip: Chip) -> np.ndarray:
    """The window of a chip cut from a large raster."""
    from dinomc_core.data import open_scene

    with open_scene(chip.source) as scene:
        return scene.read(window=chip.window)


def chips_from_label_array(
    raster: Path, label_array: np.ndarray, classes: list[str], chip_size: int, stride: int | None = None
) -> ChipSet:
    """Chips centred on labelled pixels of an array of class values 1..K on the raster's grid."""
    from dinomc_core.data import open_scene

    with open_scene(raster) as scene:
        band_names, names_known, height, width = list(scene.band_names), scene.names_known, scene.height, scene.width
        gsd = scene.gsd
    if label_array.shape != (height, width):
        raise DinoMCError(
            f"the labels are {label_array.shape[1]}x{label_array.shape[0]} px but the raster is {width}x{height} px; "
            "put the labels on the raster's grid"
        )
    centres = chip_centres(label_array, stride or max(chip_size // 2, 1))
    if not centres:
        raise DinoMCError(f"no labelled pixel falls inside {raster.name}; check the labels' extent and values")
    chips = [
        Chip(raster, (value - 1,), window=centred_window(row, col, chip_size, height, width))
        for row, col, value in centres
    ]
    chip_set = ChipSet(chips, classes, band_names, names_known, chip_size, read_window, gsd=gsd)
    check_every_class_has_samples(chip_set)
    return chip_set


def read_label_raster(labels: Path, classes: list[str] | None) -> tuple[np.ndarray, list[str]]:
    """Class values of a label raster (0 and nodata unlabelled) and the class names (``class 1``... by default)."""
    import rasterio

    if not labels.is_file():
        raise DinoMCError(f"the label raster {labels} does not exist")
    with rasterio.open(labels) as source:
        values = source.read(1)
        nodata = source.nodata
    values = np.where(values == nodata, 0, values) if nodata is not None else values
    if values.min() < 0:
        raise DinoMCError(f"{labels.name} has negative labels; use 1..K for classes and 0 for unlabelled pixels")
    highest = int(values.max())
    classes = classes or [f"class {value}" for value in range(1, highest + 1)]
    if highest > len(classes):
        raise DinoMCError(
            f"{labels.name} has label {highest} outside the class list of {len(classes)} classes ({', '.join(classes)})"
        )
    return values.astype(np.int64), classes


def load_raster_with_label_raster(
    raster: str | Path, labels: str | Path, chip_size: int, classes: str | Sequence[str] | None = None
) -> ChipSet:
    """Chips from a raster and a label raster on the same grid."""
    values, names = read_label_raster(Path(labels), parse_class_list(classes))
    return chips_from_label_array(Path(raster), values, names, chip_size)


def rasterize_vector_labels(
    raster: Path, vector: Path, class_field: str, classes: list[str] | None
) -> tuple[np.ndarray, list[str]]:
    """Burn polygons (their pixels) and points (their pixel) into class values 1..K on the raster's grid."""
    labels, _, names = rasterize_vector_shapes(raster, vector, class_field, classes)
    return labels, names


def rasterize_vector_shapes(
    raster: Path, vector: Path, class_field: str, classes: list[str] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Class values 1..K and feature ids 1..M (0: unlabelled) of polygons and points burnt on the raster's grid.

    Features are reprojected to the raster's CRS (a layer without a CRS is taken to be in it); features that miss
    the raster are dropped, and when all of them do, that is an error.
    """
    import geopandas as gpd
    from rasterio.features import rasterize
    from shapely.geometry import box

    from dinomc_core.data import open_scene

    if not vector.exists():
        raise DinoMCError(f"the label file {vector} does not exist")
    try:
        frame = gpd.read_file(vector)
    except Exception as error:  # any driver error: unreadable is unreadable
        raise DinoMCError(f"{vector.name} is not a vector file geopandas can read ({error})") from error
    if class_field not in frame.columns:
        fields = ", ".join(column for column in frame.columns if column != "geometry")
        raise DinoMCError(f"{vector.name} has no field {class_field!r}; its fields are {fields}")
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty & frame[class_field].notna()]
    values = [str(value) for value in frame[class_field]]
    names = classes or sorted(set(values))
    outside = sorted(set(values) - set(names))
    if outside:
        raise DinoMCError(f"{vector.name} has labels {', '.join(outside)} outside the class list ({', '.join(names)})")
    with open_scene(raster) as scene:
        crs, transform, shape, bounds = scene.crs, scene.transform, (scene.height, scene.width), scene.bounds
    if frame.crs is not None and crs is not None:
        try:
            frame = frame.to_crs(crs)
        except Exception as error:  # pyproj raises several types for impossible transformations
            raise DinoMCError(
                f"the features of {vector.name} ({frame.crs.name}) cannot be transformed to the raster's CRS ({crs}); "
                "reproject the layer to the raster's CRS first"
            ) from error
    inside = frame.geometry.intersects(box(*bounds)).to_numpy() if len(frame) else np.zeros(0, dtype=bool)
    if len(frame) and not inside.any():
        raise DinoMCError(
            f"none of the {len(frame)} features of {vector.name} overlaps the raster {raster.name}; draw them over "
            "the raster (or check the layer's CRS)"
        )
    labels = np.zeros(shape, np.int64)
    ids = np.zeros(shape, np.int64)
    if len(frame):
        geometries = list(frame.geometry)
        labels = rasterize([(geometry, names.index(value) + 1) for geometry, value in zip(geometries, values)],
                           out_shape=shape, transform=transform, fill=0, dtype="int32").astype(np.int64)
        ids = rasterize([(geometry, index + 1) for index, geometry in enumerate(geometries)],
                        out_shape=shape, transform=transform, fill=0, dtype="int32").astype(np.int64)
    return labels, ids, names


def connected_regions(labels: np.ndarray) -> np.ndarray:
    """Ids 1..M of the 8-connected regions of equal non-zero label (the shapes of a label raster), 0 elsewhere."""
    from rasterio.features import rasterize, shapes

    regions = [(geometry, index + 1) for index, (geometry, _) in
               enumerate(shapes(labels.astype(np.int32), mask=labels > 0, connectivity=8))]
    if not regions:
        return np.zeros(labels.shape, np.int64)
    return rasterize(regions, out_shape=labels.shape, fill=0, dtype="int32").astype(np.int64)


def load_raster_with_vector(
    raster: str | Path, vector: str | Path, class_field: str, chip_size: int, classes: str | Sequence[str] | None = None
) -> ChipSet:
    """Chips from a raster and polygons or points carrying a class field."""
    values, names = rasterize_vector_labels(Path(raster), Path(vector), class_field, parse_class_list(classes))
    return chips_from_label_array(Path(raster), values, names, chip_size)


def relabel(chip_set: ChipSet, classes: Sequence[str]) -> ChipSet:
    """The same chips with targets expressed in another class list (a model's); unknown classes are an error."""
    outside = [name for name in chip_set.classes if name not in classes]
    if outside:
        raise DinoMCError(
            f"the data has class(es) {', '.join(outside)} outside the model's class list ({', '.join(classes)})"
        )
    new_index = [list(classes).index(name) for name in chip_set.classes]
    chips = [replace(chip, target=tuple(new_index[index] for index in chip.target)) for chip in chip_set.chips]
    return replace(chip_set, chips=chips, classes=list(classes), colors=[])

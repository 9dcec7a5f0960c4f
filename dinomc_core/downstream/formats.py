"""The data formats ``python -m dinomc_core.finetune`` reads, by name, and the options some of them need."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dinomc_core.data.bigearthnet import load_bigearthnet
from dinomc_core.data.eurosat import load_eurosat
from dinomc_core.data.labelled import (
    ChipSet,
    connected_regions,
    load_class_folders,
    load_raster_with_label_raster,
    load_raster_with_vector,
    parse_class_list,
    rasterize_vector_shapes,
    read_label_raster,
    with_validation_split,
)
from dinomc_core.data.pixel_samples import PixelSamples, pixels_from_chips, pixels_from_label_array
from dinomc_core.data.oscd import City, list_cities
from dinomc_core.errors import DinoMCError

CHIP_FORMATS = ("eurosat", "bigearthnet", "folder", "raster", "vector")
PIXEL_FORMATS = ("raster", "vector")
"""Formats whose labels are drawn over a raster: they train per-pixel heads by default."""
CHANGE_FORMATS = ("oscd",)


@dataclass(frozen=True)
class DataOptions:
    """Format-specific settings: label files, class lists, chip size, nomenclature, validation hold-out."""

    labels: str | None = None
    class_field: str | None = None
    classes: str | None = None
    chip_size: int = 64
    nomenclature: int = 19
    val_fraction: float = 0.2
    val_cities: tuple[str, ...] = ()
    seed: int = 0
    window_size: int = 256


def load_chips(name: str, path: str | Path, options: DataOptions) -> ChipSet:
    """Labelled chips of ``path`` in format ``name``, with a validation split (shipped, or a fixed random one)."""
    if name == "eurosat":
        chips = load_eurosat(path)
    elif name == "bigearthnet":
        chips = load_bigearthnet(path, options.nomenclature)
    elif name == "folder":
        chips = load_class_folders(path)
    elif name in ("raster", "vector"):
        chips = load_labelled_raster(name, path, options)
    else:
        raise DinoMCError(f"unknown chip format {name!r}; use one of {', '.join(CHIP_FORMATS)}")
    return with_validation_split(chips, options.val_fraction, options.seed)


def load_labelled_raster(name: str, path: str | Path, options: DataOptions) -> ChipSet:
    """A raster with a label raster (``raster``) or with polygons/points and a class field (``vector``)."""
    if not options.labels:
        kind = "label raster" if name == "raster" else "vector file"
        raise DinoMCError(f"--format {name} needs --labels with the {kind}")
    if name == "raster":
        return load_raster_with_label_raster(path, options.labels, options.chip_size, options.classes)
    if not options.class_field:
        raise DinoMCError("--format vector needs --class-field naming the field that holds each feature's class")
    return load_raster_with_vector(path, options.labels, options.class_field, options.chip_size, options.classes)


def load_change_cities(name: str, path: str | Path, options: DataOptions) -> list[City]:
    """City pairs with change labels, validation cities held out of the training cities."""
    if name not in CHANGE_FORMATS:
        raise DinoMCError(f"change detection reads the formats {', '.join(CHANGE_FORMATS)}, not {name!r}")
    return list_cities(path, list(options.val_cities) or None, seed=options.seed)


def load_pixel_samples(name: str, path: str | Path, options: DataOptions) -> PixelSamples:
    """Labelled pixels for a per-pixel head: drawn inside polygons, points or label regions, or inside chips."""
    if name in PIXEL_FORMATS:
        if not options.labels:
            kind = "label raster" if name == "raster" else "vector file"
            raise DinoMCError(f"--format {name} needs --labels with the {kind}")
        classes = parse_class_list(options.classes)
        if name == "raster":
            labels, names = read_label_raster(Path(options.labels), classes)
            shapes = connected_regions(labels)
        else:
            if not options.class_field:
                raise DinoMCError("--format vector needs --class-field naming the field that holds each feature's class")
            labels, shapes, names = rasterize_vector_shapes(Path(path), Path(options.labels), options.class_field, classes)
        return pixels_from_label_array(Path(path), labels, shapes, names, options.window_size, seed=options.seed)
    if name == "bigearthnet":
        raise DinoMCError("per-pixel heads need single-label data; BigEarthNet is multi-label (use --protocol linear)")
    return pixels_from_chips(load_chips(name, path, options), seed=options.seed)

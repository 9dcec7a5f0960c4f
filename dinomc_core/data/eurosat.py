"""EuroSAT: multispectral GeoTIFFs (13 bands, B8A stored last) or RGB JPEGs, one folder per class.

Accepts the root of either official layout (``ds/images/remote_sensing/otherDatasets/sentinel_2/tif`` for
EuroSATallBands, ``2750`` for the RGB zip) or any folder holding the class folders. Splits come from ``splits.csv``
(``split,class,filename``) or torchgeo-style ``eurosat-{train,val,test}.txt`` lists when present.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import rasterio

from dinomc_core.data.bands import EUROSAT_MS_BANDS, RGB_BANDS
from dinomc_core.data.labelled import Chip, ChipSet, normalise_split, scan_class_folders
from dinomc_core.errors import DinoMCError

EUROSAT_CLASSES: tuple[str, ...] = (
    "AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial",
    "Pasture", "PermanentCrop", "Residential", "River", "SeaLake",
)
EUROSAT_COLORS: tuple[str, ...] = (
    "#e6c84b", "#1e7a1e", "#9acd32", "#7f7f7f", "#b43cc8",
    "#b4e682", "#d2691e", "#e63c3c", "#3c8ce6", "#1e3caa",
)
"""Fixed land-cover colours: crops yellow and brown, vegetation green, built-up grey, purple and red, water blue."""
MS_SUBFOLDER = "ds/images/remote_sensing/otherDatasets/sentinel_2/tif"
OFFICIAL_SUBFOLDERS = (
    MS_SUBFOLDER, f"EuroSATallBands/{MS_SUBFOLDER}", "2750", "EuroSAT/2750", "EuroSAT_MS", "EuroSAT_RGB",
)
EUROSAT_GSD = 10.0
EUROSAT_CHIP_SIZE = 64


def find_class_root(root: Path) -> Path:
    """The folder that holds the EuroSAT class folders under ``root``."""
    if not root.is_dir():
        raise DinoMCError(f"the EuroSAT folder {root} does not exist")
    candidates = [root] + [root / sub for sub in OFFICIAL_SUBFOLDERS]
    for candidate in candidates:
        if candidate.is_dir() and any((candidate / name).is_dir() for name in EUROSAT_CLASSES):
            return candidate
    raise DinoMCError(f"no EuroSAT class folders (AnnualCrop, Forest, ...) found in {root} or its official sub-folders")


def read_split_table(root: Path) -> dict[str, str]:
    """File stem -> split from ``splits.csv`` or ``eurosat-<split>.txt`` next to the data; empty when none."""
    splits: dict[str, str] = {}
    table = root / "splits.csv"
    if table.is_file():
        with table.open(newline="") as stream:
            for row in csv.DictReader(stream):
                splits[Path(row["filename"]).stem] = normalise_split(row["split"])
    for listing in sorted(root.glob("eurosat-*.txt")):
        split = normalise_split(listing.stem.split("-", 1)[1])
        for line in listing.read_text().split():
            splits[Path(line).stem] = split
    return splits


def read_eurosat_chip(chip: Chip) -> np.ndarray:
    """All bands of one EuroSAT image (13 for the GeoTIFFs, 3 for the JPEGs)."""
    with rasterio.open(chip.source) as source:
        return source.read()


def band_names_of(path: Path) -> list[str]:
    """EuroSAT's band order for a file: the 13 multispectral bands (B8A last) or red, green, blue."""
    with rasterio.open(path) as source:
        count = source.count
    if count == len(EUROSAT_MS_BANDS):
        return list(EUROSAT_MS_BANDS)
    if count == len(RGB_BANDS):
        return list(RGB_BANDS)
    raise DinoMCError(f"{path.name} has {count} bands; EuroSAT images have 13 (multispectral) or 3 (RGB)")


def load_eurosat(root: str | Path) -> ChipSet:
    """EuroSAT images with their classes (the official ten, in the official order) and splits when shipped."""
    root = Path(root)
    class_root = find_class_root(root)
    files = scan_class_folders(class_root)
    unknown = sorted(set(files) - set(EUROSAT_CLASSES))
    if unknown:
        raise DinoMCError(f"the folder(s) {', '.join(unknown)} in {class_root} are not EuroSAT classes")
    classes = [name for name in EUROSAT_CLASSES if name in files]
    colors = [EUROSAT_COLORS[EUROSAT_CLASSES.index(name)] for name in classes]
    splits = read_split_table(root) or read_split_table(class_root)
    chips = [
        Chip(path, (index,), split=splits.get(path.stem))
        for index, name in enumerate(classes)
        for path in files[name]
    ]
    band_names = band_names_of(chips[0].source)
    return ChipSet(
        chips, classes, band_names, True, EUROSAT_CHIP_SIZE, read_eurosat_chip, gsd=EUROSAT_GSD, colors=colors
    )


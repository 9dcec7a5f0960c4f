"""BigEarthNet v1 Sentinel-2 patches: one folder per patch with 12 band files and a label JSON.

Bands come at 10, 20 and 60 m and are resampled to the 10 m grid (120 x 120 px) by ``open_scene``. Labels are the
43 CORINE names of the JSON, or the standard 19-class nomenclature (Sumbul et al. 2020) mapped from them; patches
whose labels all fall outside the 19 classes are left out, as in the official 19-class setting. Splits come from the
official ``train.csv`` / ``val.csv`` / ``test.csv`` patch lists when they sit next to the patches.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dinomc_core.data.bands import BIGEARTHNET_BANDS
from dinomc_core.data.labelled import Chip, ChipSet
from dinomc_core.errors import DinoMCError

LABELS_43: tuple[str, ...] = (
    "Continuous urban fabric", "Discontinuous urban fabric", "Industrial or commercial units",
    "Road and rail networks and associated land", "Port areas", "Airports", "Mineral extraction sites", "Dump sites",
    "Construction sites", "Green urban areas", "Sport and leisure facilities", "Non-irrigated arable land",
    "Permanently irrigated land", "Rice fields", "Vineyards", "Fruit trees and berry plantations", "Olive groves",
    "Pastures", "Annual crops associated with permanent crops", "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation", "Agro-forestry areas",
    "Broad-leaved forest", "Coniferous forest", "Mixed forest", "Natural grassland", "Moors and heathland",
    "Sclerophyllous vegetation", "Transitional woodland/shrub", "Beaches, dunes, sands", "Bare rock",
    "Sparsely vegetated areas", "Burnt areas", "Inland marshes", "Peatbogs", "Salt marshes", "Salines",
    "Intertidal flats", "Water courses", "Water bodies", "Coastal lagoons", "Estuaries", "Sea and ocean",
)
LABELS_19: tuple[str, ...] = (
    "Urban fabric", "Industrial or commercial units", "Arable land", "Permanent crops", "Pastures",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation", "Agro-forestry areas",
    "Broad-leaved forest", "Coniferous forest", "Mixed forest", "Natural grassland and sparsely vegetated areas",
    "Moors, heathland and sclerophyllous vegetation", "Transitional woodland, shrub", "Beaches, dunes, sands",
    "Inland wetlands", "Coastal wetlands", "Inland waters", "Marine waters",
)
GROUPS_43_TO_19: tuple[tuple[int, ...], ...] = (
    (0, 1), (2,), (11, 12, 13), (14, 15, 16, 18), (17,), (19,), (20,), (21,), (22,), (23,), (24,), (25, 31),
    (26, 27), (28,), (29,), (33, 34), (35, 36), (38, 39), (40, 41, 42),
)
"""Indices into ``LABELS_43`` grouped into each of the 19 classes; the other 11 labels have no 19-class match."""
NOMENCLATURES = (19, 43)
PATCH_SIZE = 120
GSD = 10.0


def class_names(nomenclature: int) -> list[str]:
    """The class names of the 19- or 43-class nomenclature."""
    if nomenclature not in NOMENCLATURES:
        raise DinoMCError(f"BigEarthNet has a 19- and a 43-class nomenclature, not {nomenclature}")
    return list(LABELS_19 if nomenclature == 19 else LABELS_43)


def to_indices(labels: list[str], nomenclature: int, source: str) -> tuple[int, ...]:
    """Sorted class indices of a patch's 43-class label names in the chosen nomenclature."""
    unknown = [label for label in labels if label not in LABELS_43]
    if unknown:
        raise DinoMCError(f"{source} has labels {', '.join(unknown)} outside the 43 BigEarthNet classes")
    indices_43 = {LABELS_43.index(label) for label in labels}
    if nomenclature == 43:
        return tuple(sorted(indices_43))
    return tuple(k for k, group in enumerate(GROUPS_43_TO_19) if indices_43 & set(group))


def read_patch_labels(patch: Path) -> list[str]:
    """The 43-class label names in ``<patch>_labels_metadata.json``."""
    label_file = patch / f"{patch.name}_labels_metadata.json"
    if not label_file.is_file():
        raise DinoMCError(f"the label file {label_file.name} is missing in {patch}")
    try:
        return list(json.loads(label_file.read_text())["labels"])
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise DinoMCError(f"{label_file.name} is not a BigEarthNet label file with a 'labels' list") from error


def find_patches(root: Path) -> list[Path]:
    """Patch folders: ``root`` itself when it is one, else its sub-folders holding band files."""
    if not root.is_dir():
        raise DinoMCError(f"the BigEarthNet folder {root} does not exist")
    if any(root.glob("*_B02.tif")):
        return [root]
    patches = sorted(folder for folder in root.iterdir() if folder.is_dir() and any(folder.glob("*_B02.tif")))
    if not patches:
        raise DinoMCError(f"{root} holds no BigEarthNet patch folders (<patch>/<patch>_B02.tif ...)")
    return patches


def read_official_splits(root: Path) -> dict[str, str]:
    """Patch name -> split from the official ``train.csv``/``val.csv``/``test.csv`` in or above ``root``."""
    splits: dict[str, str] = {}
    for folder in (root, root.parent):
        for split in ("train", "val", "test"):
            listing = folder / f"{split}.csv"
            if listing.is_file():
                for line in listing.read_text().splitlines():
                    if line.strip():
                        splits[line.split(",")[0].strip()] = split
        if splits:
            return splits
    return splits


def read_patch(chip: Chip) -> np.ndarray:
    """The 12 bands of a patch on the 10 m grid, in ``BIGEARTHNET_BANDS`` order."""
    from dinomc_core.data import open_scene, select_bands

    with open_scene(chip.source) as scene:
        return scene.read(bands=select_bands(scene.band_set, BIGEARTHNET_BANDS, str(scene.path)))


def load_bigearthnet(root: str | Path, nomenclature: int = 19) -> ChipSet:
    """BigEarthNet patches as multi-label chips in the 19- or 43-class nomenclature."""
    classes = class_names(nomenclature)
    root = Path(root)
    splits = read_official_splits(root)
    chips = []
    for patch in find_patches(root):
        target = to_indices(read_patch_labels(patch), nomenclature, patch.name)
        if target:
            chips.append(Chip(patch, target, split=splits.get(patch.name)))
    if not chips:
        raise DinoMCError(f"no patch in {root} has a label in the {nomenclature}-class nomenclature")
    return ChipSet(chips, classes, list(BIGEARTHNET_BANDS), True, PATCH_SIZE, read_patch, multilabel=True, gsd=GSD)

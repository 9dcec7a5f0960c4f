"""OSCD (Onera Satellite Change Detection): city pairs of 13-band Sentinel-2 scenes with change masks.

Layout: ``<Images>/<city>/imgs_1`` and ``imgs_2`` hold one file per band at native resolution (``open_scene``
resamples them to the 10 m grid and matches bands on their ``_Bxx`` suffix, whatever the granule prefix);
``<Images>/train.txt`` and ``test.txt`` list cities; labels are ``<Labels>/<city>/cm/<city>-cm.tif`` with
1 = no change and 2 = change (the data set's README says 0/1; both are read), or ``cm/cm.png`` (0/255, anti-aliased
RGB for aguasclaras, so thresholded). Date-2 images can be a few pixels smaller than date 1 and the label: every
city is cropped to the extent the three share (top-left aligned, as the data set registers them).
"""
from __future__ import annotations

import random
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from dinomc_core.errors import DinoMCError

IMAGES_FOLDER = "Onera Satellite Change Detection dataset - Images"
GSD = 10.0
CITY_LISTS = {"train": "train.txt", "test": "test.txt"}


@dataclass(frozen=True)
class City:
    """One OSCD city: its two dates, its label file and its split."""

    name: str
    before: Path
    after: Path
    label: Path | None
    split: str


@dataclass(frozen=True)
class CityPair:
    """Raw values of both dates ``(bands, H, W)`` and the change mask ``(H, W)``, cropped to a common extent."""

    name: str
    before: np.ndarray
    after: np.ndarray
    change: np.ndarray


def find_images_folder(root: Path) -> Path:
    """The folder holding the city folders and ``train.txt``."""
    for candidate in (root, root / IMAGES_FOLDER):
        if (candidate / "train.txt").is_file() or (candidate / "test.txt").is_file():
            return candidate
    raise DinoMCError(f"no OSCD city list (train.txt or test.txt) found in {root} or {root / IMAGES_FOLDER}")


def read_city_list(images: Path, split: str) -> list[str]:
    """City names of ``train.txt`` or ``test.txt`` (comma separated); empty when the file is absent."""
    listing = images / CITY_LISTS[split]
    if not listing.is_file():
        return []
    return [name.strip() for name in listing.read_text().replace("\n", ",").split(",") if name.strip()]


def find_label_file(images: Path, city: str) -> Path | None:
    """``<city>-cm.tif`` (preferred) or ``cm.png`` in any OSCD label folder beside the images; None when missing."""
    label_roots = sorted(folder for folder in images.parent.iterdir() if folder.is_dir() and "Labels" in folder.name)
    for label_root in label_roots + [images]:
        for name in (f"{city}-cm.tif", "cm.png"):
            candidate = label_root / city / "cm" / name
            if candidate.is_file():
                return candidate
    return None


def list_cities(root: str | Path, val_cities: list[str] | None = None, val_count: int = 2, seed: int = 0) -> list[City]:
    """Every listed city with its split; validation cities are held out from the training list.

    ``val_cities`` names them; otherwise ``val_count`` training cities are drawn with a fixed seed.
    """
    images = find_images_folder(Path(root))
    train, test = read_city_list(images, "train"), read_city_list(images, "test")
    unknown = sorted(set(val_cities or []) - set(train))
    if unknown:
        raise DinoMCError(f"validation cities {', '.join(unknown)} are not training cities of {images / 'train.txt'}")
    drawn = random.Random(seed).sample(sorted(train), min(val_count, len(train) - 1))
    held_out = set(val_cities) if val_cities else set(drawn)
    cities = []
    for name in train + test:
        folder = images / name
        if not (folder / "imgs_1").is_dir() or not (folder / "imgs_2").is_dir():
            raise DinoMCError(f"the city {name} lacks its imgs_1 or imgs_2 folder in {images}")
        split = "test" if name in test else ("val" if name in held_out else "train")
        cities.append(City(name, folder / "imgs_1", folder / "imgs_2", find_label_file(images, name), split))
    return cities


def band_names(city: City) -> list[str]:
    """The band names of a city's date-1 scene."""
    from dinomc_core.data import open_scene

    with open_scene(city.before) as scene:
        return list(scene.band_names)


def read_change_mask(label: Path) -> np.ndarray:
    """Boolean change mask from ``<city>-cm.tif`` (1/2, or 0/1) or ``cm.png`` (0/255, thresholded)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # OSCD label files carry no georeference
        with rasterio.open(label) as source:
            values = source.read(1)
    if label.suffix.lower() == ".png":
        return values > 127
    if values.max() > 2:
        raise DinoMCError(f"{label.name} has label {int(values.max())}; OSCD labels are 1 (no change) and 2 (change)")
    return values == 2 if values.min() >= 1 else values == 1


def read_city(city: City, bands: list[str]) -> CityPair:
    """Both dates (the named bands, on the 10 m grid) and the change mask, cropped to their common extent."""
    from dinomc_core.data import open_scene, select_bands

    if city.label is None:
        raise DinoMCError(
            f"the change label of {city.name} ({city.name}-cm.tif or cm.png) is missing; OSCD test labels ship separately"
        )
    dates = []
    for folder in (city.before, city.after):
        with open_scene(folder) as scene:
            dates.append(scene.read(bands=select_bands(scene.band_set, bands, str(scene.path))))
    change = read_change_mask(city.label)
    height = min(dates[0].shape[1], dates[1].shape[1], change.shape[0])
    width = min(dates[0].shape[2], dates[1].shape[2], change.shape[1])
    return CityPair(city.name, dates[0][:, :height, :width], dates[1][:, :height, :width], change[:height, :width])

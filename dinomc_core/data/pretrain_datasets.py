"""Pretraining data found in files and folders: random windows of large rasters, chips, one-file-per-band scenes.

Inputs may be raster files (any GDAL format, JPEG and PNG included), folders searched recursively for rasters
(chip folders such as EuroSAT's ``<Class>/<Class>_<n>.tif`` among them), or one-file-per-band scenes (OSCD
``imgs_1``/``imgs_2``, BigEarthNet patches, SeCo ``<location>/<season>/B*.tif``). A folder holding band-file scenes
contributes only those scenes, so the RGB previews and labels stored beside them (OSCD ``pair/*.png``) stay out.

Each epoch draws windows of ``window_size`` pixels (at most the scene's size) at random from every scene larger than
a window: as many as the window fits in its area, and at least :data:`MIN_WINDOWS_PER_SCENE`, so a single small
scene still fills a few batches; windows that are mostly nodata are redrawn. Scenes no larger than a window (chips)
come whole, once per epoch. Draws depend only on the seed, the epoch and
the item index, so runs repeat and every epoch, worker and rank sees other windows. With ``temporal`` an item is a
list of dates of one place (DINO-TP temporal positives), cropped to their common size and read through one window.

A packed file (``dinomc_core.data.packed``) given as the only input is read instead, with numpy alone: GDAL
(rasterio) is imported only where raster files are opened, so packed data trains where it is not installed.
"""
from __future__ import annotations

import bisect
import os
import re
import statistics
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset

from dinomc_core.data.bands import (
    EUROSAT_MS_BANDS,
    BandMatch,
    BandSet,
    default_scale,
    is_index_request,
    match_bands,
    name_with_wavelength,
    select_bands,
    short_list,
    wavelength_list,
)
from dinomc_core.data.packed import PackedImage, PixelWindow, is_packed_file, read_packed
from dinomc_core.errors import DinoMCError

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from dinomc_core.data.raster import Scene

MAX_NODATA_FRACTION = 0.5
"""Windows with more nodata than this are redrawn."""

MIN_WINDOWS_PER_SCENE = 8
"""Random windows drawn per epoch from a scene larger than one window, however small its area (a default batch)."""

WINDOW_ATTEMPTS = 20
"""Draws per item before settling for the window with the most valid pixels."""

MAX_DATE_SIZE_DIFFERENCE = 0.05
"""Dates of one place may differ in size by this fraction (OSCD's second dates lose a few pixels) and are cropped."""

DATE_IN_NAME = re.compile(r"(?:19|20)\d{6}(?:T\d{6})?")
"""A date in a file name (``20170829`` or ``20170829T105019``): files differing only there are dates of one place."""

PathsLike = str | Path | Sequence[str | Path]
Item = torch.Tensor | list[torch.Tensor]


@dataclass(frozen=True)
class BandChoice:
    """The bands every input must provide, in model order; ``positions`` (0-based) when the user chose them by
    number, so that every input gives the bands at those positions whatever their names."""

    bands: BandSet
    positions: tuple[int, ...] | None


@dataclass(frozen=True)
class Place:
    """One or more dates of one place: the scenes (raster paths, or images of a packed file), the chosen band positions
    in each, and their common size."""

    scenes: tuple[Path | PackedImage, ...]
    bands: tuple[tuple[int, ...], ...]
    height: int
    width: int


def build_pretrain_dataset(
    paths: PathsLike,
    bands: Sequence[str] | str | None = None,
    temporal: bool = False,
    window_size: int = 256,
    transform: Callable[[Item], Any] | None = None,
    seed: int = 0,
) -> PretrainDataset:
    """A dataset of raw ``float32`` windows ``(C, H, W)`` (lists of dates when ``temporal``) from files and folders.

    ``bands`` names bands (``"B02,B03,B04,B08"``) or gives 1-based indices; None keeps every band but alpha (a mask
    marking nodata). All inputs must provide the chosen bands and store them in one data type; an unreadable input is
    an error naming it.
    """
    if window_size < 1:
        raise DinoMCError(f"the window size must be a positive number of pixels, not {window_size}")
    inputs = _as_paths(paths)
    if len(inputs) == 1 and is_packed_file(inputs[0]):
        return packed_dataset(inputs[0], bands, temporal, window_size, transform, seed)
    from dinomc_core.data.raster import open_scene

    scene_paths = [scene for path in inputs for scene in find_scenes(path)]
    groups = group_dates(scene_paths) if temporal else [(path,) for path in scene_paths]
    with open_scene(groups[0][0]) as first:
        choice = _first_band_choice(first, bands)
    places: list[Place] = []
    facts: list[_SceneFacts] = []
    rules: list[str] = []
    for group in groups:
        with ExitStack() as stack:
            scenes = [stack.enter_context(open_scene(path)) for path in group]
            matches = [_band_positions(scene, choice, bands) for scene in scenes]
            places.append(_place(scenes, [match.indices for match in matches]))
            facts.extend(_SceneFacts.of(scene, choice) for scene in scenes)
            rules.extend(match.rule for match in matches)
    return PretrainDataset(
        places,
        choice,
        band_note=_band_note(rules, choice),
        scale=_common_scale(facts),
        gsd=_median_gsd(facts),
        nodata=_shared_nodata(facts),
        window_size=window_size,
        temporal=temporal,
        transform=transform,
        seed=seed,
    )


def packed_dataset(path: Path, bands: Sequence[str] | str | None, temporal: bool, window_size: int,
                   transform: Callable[[Item], Any] | None, seed: int) -> PretrainDataset:
    """The dataset of a packed file: its places (with their dates when ``temporal``), the chosen bands."""
    packed = read_packed(path)
    chosen = list(range(len(packed.bands))) if bands is None else select_bands(packed.bands, bands, str(path))
    if temporal:
        lonely = sum(len(dates) < 2 for dates in packed.places)
        if lonely:
            raise DinoMCError(
                f"{lonely} of the {len(packed.places)} places in {path.name} have one date; temporal pretraining needs "
                "two dates or more per place (pack OSCD imgs_1/imgs_2 folders or rasters named by date)"
            )
        groups = packed.places
    else:
        groups = [[image] for dates in packed.places for image in dates]
    places = [Place(tuple(images), tuple(tuple(chosen) for _ in images), min(image.height for image in images),
                    min(image.width for image in images)) for images in groups]
    return PretrainDataset(
        places, BandChoice(packed.bands.subset(chosen), None), band_note=None, scale=packed.scale, gsd=packed.gsd,
        nodata=packed.nodata, window_size=window_size, temporal=temporal, transform=transform, seed=seed,
    )


def open_source(source: Path | PackedImage) -> AbstractContextManager:
    """An image of a place, opened for reading windows: a packed image as it is, a raster path with GDAL."""
    if isinstance(source, PackedImage):
        return source
    from dinomc_core.data.raster import open_scene

    return open_scene(source)


def _as_paths(paths: PathsLike) -> list[Path]:
    """One path or several, as a non-empty list of paths."""
    listed = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(path) for path in paths]
    if not listed:
        raise DinoMCError("no input was given; pass raster files or folders of rasters")
    return listed


def find_scenes(path: Path) -> list[Path]:
    """The scenes under ``path``: itself when it is a raster file or a band folder, else what a recursive search finds.

    A search that finds band-file folders returns only those; otherwise it returns every raster file.
    """
    from dinomc_core.data.raster import band_files, is_raster_file

    if not path.exists():
        raise DinoMCError(f"{path} does not exist; give raster files or folders of rasters")
    if path.is_file() or band_files(path):
        return [path]
    band_folders: list[Path] = []
    rasters: list[Path] = []
    for folder, subfolders, files in os.walk(path):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        here = Path(folder)
        if band_files(here):
            band_folders.append(here)
        else:
            found = (here / name for name in sorted(files) if not name.startswith("."))
            rasters.extend(file for file in found if is_raster_file(file))
    if not band_folders and not rasters:
        raise DinoMCError(f"{path} holds no rasters (GeoTIFF, VRT, JPEG, PNG... or folders of *_B02.tif band files)")
    return band_folders or rasters


def group_dates(scene_paths: Sequence[Path]) -> list[tuple[Path, ...]]:
    """Scenes grouped into places, dates sorted by name: band folders sharing a parent (OSCD ``imgs_1``/``imgs_2``,
    SeCo seasons), files of one folder whose names differ only by a date (``x_20170829.tif``, ``x_20180101.tif``)."""
    groups: dict[tuple[Path, str], list[Path]] = {}
    for path in scene_paths:
        groups.setdefault(place_key(path), []).append(path)
    for members in groups.values():
        if len(members) < 2:
            raise DinoMCError(
                f"{members[0]} has no other date of its place; temporal pretraining needs two dates or more per place "
                "(OSCD imgs_1/imgs_2 folders, SeCo season folders, or rasters whose names differ only by a date)"
            )
    return [tuple(sorted(members)) for members in groups.values()]


def group_places(places: Sequence[Place]) -> list[list[Place]]:
    """Single-date places grouped as ``group_dates`` groups their scenes, in order; a place without another date
    stays alone."""
    groups: dict[tuple[Path, str], list[Place]] = {}
    for place in places:
        groups.setdefault(place_key(place.scenes[0]), []).append(place)
    return [sorted(members, key=lambda place: place.scenes[0]) for members in groups.values()]


def place_key(path: Path) -> tuple[Path, str]:
    """What the dates of one place share: the parent of band folders, the folder and the name without its date of
    files."""
    return (path.parent, "") if path.is_dir() else (path.parent, DATE_IN_NAME.sub("<date>", path.name))


def scene_bands(scene: Scene) -> BandSet:
    """The bands of a scene; unnamed 13-band EuroSAT chips (``<Class>/<Class>_<n>.tif``) get the EuroSAT order."""
    eurosat_chip = re.fullmatch(rf"{re.escape(scene.path.parent.name)}_\d+", scene.path.stem)
    if not scene.names_known and eurosat_chip and scene.count == len(EUROSAT_MS_BANDS):
        return BandSet(EUROSAT_MS_BANDS)
    return scene.band_set


def data_band_indices(bands: BandSet) -> list[int]:
    """The positions of the bands that hold data: all but an alpha band, which is a mask (GDAL reads it as one)."""
    return [index for index, name in enumerate(bands.names) if name != "alpha"]


def _first_band_choice(scene: Scene, bands: Sequence[str] | str | None) -> BandChoice:
    """The bands chosen on the first input (every data band by default), which every other input must provide.

    Real names lacking a wavelength the file's metadata gives get it appended, so the model file keeps it (numbers
    standing for unnamed bands stay numbers, which other rasters match by position).
    """
    available = scene_bands(scene)
    indices = data_band_indices(available) if bands is None else select_bands(available, bands, str(scene.path))
    chosen = available.subset(indices)
    if chosen.names_known:
        names = [name_with_wavelength(name, wavelength) for name, wavelength in zip(chosen.names, chosen.wavelengths)]
        chosen = BandSet(tuple(names), True, chosen.wavelengths)
    return BandChoice(chosen, tuple(indices) if is_index_request(bands) else None)


def _band_positions(scene: Scene, choice: BandChoice, bands: Sequence[str] | str | None) -> BandMatch:
    """Where one scene holds the chosen bands: at the positions the user gave, else matched by name or wavelength.

    Without a band choice every input must hold as many data bands as the first, named or unnamed like its own.
    """
    available = scene_bands(scene)
    if choice.positions is not None:
        indices = select_bands(available, bands, str(scene.path))
        return BandMatch(indices, "position", available.subset(indices).wavelengths)
    if bands is None and (available.names_known != choice.bands.names_known
                          or len(data_band_indices(available)) != len(choice.bands)):
        raise DinoMCError(
            f"{scene.path} has bands {short_list(available.names)} but the first input has "
            f"{short_list(choice.bands.names)}; pretrain on inputs with the same bands, or choose bands with --bands"
        )
    return match_bands(available, choice.bands, str(scene.path), "the first input")


def _band_note(rules: list[str], choice: BandChoice) -> str | None:
    """One sentence on how the inputs' bands were matched when some were not matched by name, else None."""
    if choice.positions is not None:
        return f"bands {', '.join(str(index + 1) for index in choice.positions)} taken by position in every input"
    if "wavelength" in rules:
        return (f"bands of {rules.count('wavelength')} of {len(rules)} inputs matched by wavelength "
                f"({wavelength_list(choice.bands.wavelengths)})")
    if "position" in rules:
        return f"the unnamed bands of {rules.count('position')} of {len(rules)} inputs taken in order"
    return None


def _place(scenes: list[Scene], bands: list[list[int]]) -> Place:
    """The dates of one place, checked to overlap and to share a grid size within a few pixels."""
    for scene in scenes[1:]:
        _check_same_place(scenes[0], scene)
    height, width = min(scene.height for scene in scenes), min(scene.width for scene in scenes)
    return Place(
        scenes=tuple(scene.path for scene in scenes),
        bands=tuple(tuple(indices) for indices in bands),
        height=height,
        width=width,
    )


def _check_same_place(first: Scene, other: Scene) -> None:
    """Refuse two dates that do not overlap or whose grids differ by more than a few pixels."""
    from rasterio.coords import disjoint_bounds
    from rasterio.warp import transform_bounds

    if first.crs is not None and other.crs is not None:
        other_bounds = transform_bounds(other.crs, first.crs, *other.bounds)
        if disjoint_bounds(first.bounds, other_bounds):
            raise DinoMCError(
                f"{first.path} and {other.path} do not overlap, so they are not dates of one place; "
                "keep one folder per place (its dates as subfolders, or files named by date)"
            )
    for size, other_size in ((first.width, other.width), (first.height, other.height)):
        if abs(size - other_size) > MAX_DATE_SIZE_DIFFERENCE * max(size, other_size):
            raise DinoMCError(
                f"{first.path} is {first.width}x{first.height} px but {other.path} is {other.width}x{other.height} px; "
                "put the dates of a place on one grid (e.g. with gdalwarp) before pretraining"
            )


@dataclass(frozen=True)
class _SceneFacts:
    """What the dataset-wide scale, gsd and nodata are derived from, for one scene."""

    path: Path
    scale: float
    gsd: float | None
    nodata: float | None

    @classmethod
    def of(cls, scene: Scene, choice: BandChoice) -> _SceneFacts:
        return cls(scene.path, default_scale(scene.dtype, choice.bands.names), scene.gsd, scene.nodata)


def _common_scale(facts: list[_SceneFacts]) -> float:
    """The raw-to-reflectance scale shared by every input, or a sentence naming two inputs that differ."""
    first = facts[0]
    for other in facts[1:]:
        if not np.isclose(other.scale, first.scale):
            raise DinoMCError(
                f"{other.path} stores values of another type or sensor than {first.path} (scales {other.scale:g} "
                f"and {first.scale:g}); pretrain on inputs of one kind"
            )
    return first.scale


def _median_gsd(facts: list[_SceneFacts]) -> float | None:
    """The median ground sampling distance of the georeferenced inputs (None when none is)."""
    distances = [fact.gsd for fact in facts if fact.gsd is not None]
    return statistics.median(distances) if distances else None


def _shared_nodata(facts: list[_SceneFacts]) -> float | None:
    """The nodata value of the inputs that declare one, when they agree; None otherwise."""
    values = {fact.nodata for fact in facts if fact.nodata is not None}
    return values.pop() if len(values) == 1 else None


class PretrainDataset(Dataset):
    """Raw ``float32`` windows of the chosen bands; see the module docstring for how windows are drawn.

    Attributes: ``band_names``, ``names_known``, ``wavelengths`` (µm or None per band, or empty), ``band_note`` (how
    the inputs' bands were matched when not all by name, else None), ``scale`` (per band, raw -> reflectance), ``gsd``
    (metres or None), ``nodata`` (shared raw nodata value or None), ``places``, ``window_size``, ``temporal``,
    ``epoch``.
    """

    def __init__(
        self,
        places: list[Place],
        choice: BandChoice,
        *,
        band_note: str | None,
        scale: float,
        gsd: float | None,
        nodata: float | None,
        window_size: int,
        temporal: bool,
        transform: Callable[[Item], Any] | None,
        seed: int,
    ) -> None:
        self.places = places
        self.band_names = list(choice.bands.names)
        self.names_known = choice.bands.names_known
        self.wavelengths = choice.bands.wavelengths
        self.band_note = band_note
        self.scale = [scale] * len(self.band_names)
        self.gsd = gsd
        self.nodata = nodata
        self.window_size = window_size
        self.temporal = temporal
        self.transform = transform
        self.seed = seed
        self.epoch = 0
        self._ends = np.cumsum([self.windows_per_epoch(place) for place in places]).tolist()

    def set_epoch(self, epoch: int) -> None:
        """Draw another set of windows; call before each epoch's loader starts (workers copy the dataset then)."""
        self.epoch = epoch

    def windows_per_epoch(self, place: Place) -> int:
        """How many windows a place gives per epoch: one for a chip, else as many as the window fits in its area and
        at least :data:`MIN_WINDOWS_PER_SCENE`."""
        if place.height <= self.window_size and place.width <= self.window_size:
            return 1
        return max(MIN_WINDOWS_PER_SCENE, round(place.height * place.width / self.window_size**2))

    def __len__(self) -> int:
        return self._ends[-1]

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"item {index} is outside the {len(self)} items of the dataset")
        place = self.places[bisect.bisect_right(self._ends, index)]
        generator = np.random.default_rng([self.seed, self.epoch, index])
        with ExitStack() as stack:
            scenes = [stack.enter_context(open_source(source)) for source in place.scenes]
            window = self._pick_window(place, scenes, generator)
            dates = [
                torch.from_numpy(scene.read(list(bands), window).astype(np.float32))
                for scene, bands in zip(scenes, place.bands)
            ]
        item: Item = dates if self.temporal else dates[0]
        return self.transform(item) if self.transform is not None else item

    def _pick_window(self, place: Place, scenes: list[Scene | PackedImage], generator: np.random.Generator
                     ) -> PixelWindow:
        """A random window with at most half nodata in every date (the most valid of the draws when none has)."""
        height, width = min(self.window_size, place.height), min(self.window_size, place.width)
        if (height, width) == (place.height, place.width):
            return PixelWindow(0, 0, width, height)
        best, best_valid = PixelWindow(0, 0, width, height), -1.0
        for _ in range(WINDOW_ATTEMPTS):
            row = int(generator.integers(0, place.height - height + 1))
            col = int(generator.integers(0, place.width - width + 1))
            window = PixelWindow(col, row, width, height)
            valid = min(
                float(scene.read_valid_mask(window, list(bands)).mean()) for scene, bands in zip(scenes, place.bands)
            )
            if valid >= 1 - MAX_NODATA_FRACTION:
                return window
            if valid > best_valid:
                best, best_valid = window, valid
        return best

    def __repr__(self) -> str:
        return (
            f"PretrainDataset({len(self.places)} places, {len(self)} windows of {self.window_size} px per epoch, "
            f"bands {short_list(self.band_names)}, temporal={self.temporal})"
            + (f"; {self.band_note}" if self.band_note else "")
        )

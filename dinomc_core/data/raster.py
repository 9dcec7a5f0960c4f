"""One way to read imagery: a GDAL raster, or a folder of one-file-per-band rasters resampled to its finest band.

:func:`open_scene` hides the difference. A multi-band raster (GeoTIFF, VRT, ENVI, JPEG, PNG... anything rasterio
opens) is read as it is. A folder of band files matched on their ``_Bxx`` suffix (OSCD ``imgs_1``, BigEarthNet
patches, SeCo seasons, Sentinel-2 ``IMG_DATA``) is stacked in Sentinel-2 order on the grid of its finest band; each
coarser band is read through the matching fractional window with bilinear resampling, so memory stays proportional
to the window read, whatever the scene size.
"""
from __future__ import annotations

import math
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import numpy as np
import rasterio
from affine import Affine
from rasterio.coords import BoundingBox
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window, from_bounds
from rasterio.windows import bounds as window_bounds

from dinomc_core.data.bands import (
    RGB_BANDS,
    SENTINEL2_10M_BANDS,
    SENTINEL2_BANDS,
    BandSet,
    file_band_name,
    to_micrometres,
)
from dinomc_core.errors import DinoMCError

RASTER_SUFFIXES = frozenset(
    {".tif", ".tiff", ".vrt", ".jp2", ".img", ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp",
     ".bil", ".bip", ".bsq", ".envi", ".nc", ".hdf", ".h5", ".asc", ".ers", ".kea", ".ntf"}
)
"""File suffixes taken for rasters when searching folders."""

ENVI_DATA_SUFFIXES = frozenset({"", ".bin", ".dat", ".raw"})
"""Suffixes of ENVI data files, taken for rasters when a ``.hdr`` header lies beside them."""

BAND_FILE_PATTERN = re.compile(r"(?:.*_)?(B(?:8A|\d{1,2}))\.(?:tif|tiff|jp2|vrt)", re.IGNORECASE)
"""One-file-per-band names: ``<anything>_B02.tif``, ``T31UDQ_20170829T105019_B8A.tif``, SeCo ``B1.tif``."""

_EARTH_METRES_PER_DEGREE = 111_320.0


def open_scene(path: str | Path) -> Scene:
    """Open a raster file, or a folder of one-file-per-band rasters, as a :class:`Scene`."""
    location = Path(path)
    if not location.exists():
        raise DinoMCError(f"{location} does not exist; give the path of a raster file or of a folder of band files")
    if location.is_dir():
        return BandFolderScene(location)
    return RasterScene(location)


def is_raster_file(path: Path) -> bool:
    """Whether a file found in a folder looks like a raster: a known suffix, or ENVI data beside its ``.hdr``."""
    suffix = path.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        return True
    return suffix in ENVI_DATA_SUFFIXES and (
        path.with_suffix(".hdr").is_file() or path.with_name(path.name + ".hdr").is_file()
    )


def band_files(folder: Path) -> dict[str, Path]:
    """The band files of a one-file-per-band folder by canonical band name, in Sentinel-2 order ({} when none)."""
    found: dict[str, Path] = {}
    for file in sorted(folder.iterdir()):
        match = BAND_FILE_PATTERN.fullmatch(file.name)
        if not match or not file.is_file():
            continue
        name = file_band_name(match.group(1), file.name)
        if name in found:
            raise DinoMCError(f"{folder} holds two files for band {name} ({found[name].name}, {file.name}); keep one")
        found[name] = file
    return {name: found[name] for name in _sentinel2_order(found)}


def _sentinel2_order(names: Sequence[str]) -> list[str]:
    """Band names sorted in Sentinel-2 order, other names (``Landsat B2``, ``Landsat B10``) after them by number."""
    rank = {name: index for index, name in enumerate(SENTINEL2_BANDS)}
    return sorted(names, key=lambda name: (rank.get(name, len(rank)), _natural_key(name)))


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    """Sort key comparing the digit runs of a name as numbers (``B2`` before ``B10``)."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part]


class Scene(ABC):
    """A stack of bands on one pixel grid, read window by window.

    Attributes: ``path``, ``band_names`` (``"1".."N"`` with ``names_known`` False when the file names no bands),
    ``wavelengths`` (central wavelength in µm per band from the file's metadata, None where unknown; None for all
    when the scene has no such metadata), ``width``, ``height``, ``crs``, ``transform``, ``dtype`` (numpy name),
    ``nodata`` (raw value or None).
    """

    path: Path
    band_names: list[str]
    names_known: bool
    wavelengths: list[float | None] | None = None
    width: int
    height: int
    crs: CRS | None
    transform: Affine
    dtype: str
    nodata: float | None

    @property
    def count(self) -> int:
        """Number of bands."""
        return len(self.band_names)

    @property
    def band_set(self) -> BandSet:
        """The bands as the band matcher takes them: names, whether they are real, wavelengths (metadata or names)."""
        return BandSet(tuple(self.band_names), self.names_known, tuple(self.wavelengths or ()))

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size (x, y) in CRS units."""
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def bounds(self) -> BoundingBox:
        """Extent (left, bottom, right, top) in CRS units."""
        return BoundingBox(*window_bounds(Window(0, 0, self.width, self.height), self.transform))

    @property
    def gsd(self) -> float | None:
        """Ground sampling distance in metres (approximate for geographic CRSs), None without a CRS."""
        if self.crs is None:
            return None
        res_x, res_y = self.res
        if self.crs.is_geographic:
            latitude = (self.transform * (self.width / 2, self.height / 2))[1]
            return _EARTH_METRES_PER_DEGREE * (res_x * math.cos(math.radians(latitude)) + res_y) / 2
        return (res_x + res_y) / 2 * self.crs.linear_units_factor[1]

    def read(
        self, bands: Sequence[int] | None = None, window: Window | None = None, boundless: bool = False
    ) -> np.ndarray:
        """Raw values ``(C, h, w)`` in the scene's dtype for 0-based ``bands`` (all when None) inside ``window``.

        With ``boundless`` the window may extend past the edges, which are filled with ``nodata`` (or 0).
        """
        indices = self._band_indices(bands)
        target = self._window(window)
        fill = 0 if self.nodata is None else self.nodata
        canvas = np.full((len(indices), target.height, target.width), fill, dtype=self.dtype)
        return self._read_into(canvas, target, boundless, lambda inside: self._read_inside(indices, inside))

    def read_valid_mask(
        self, window: Window | None = None, bands: Sequence[int] | None = None, boundless: bool = False
    ) -> np.ndarray:
        """``(h, w)`` booleans, False where any chosen band is nodata (value, GDAL mask, alpha) or off the scene."""
        indices = self._band_indices(bands)
        target = self._window(window)
        canvas = np.zeros((1, target.height, target.width), dtype=bool)
        return self._read_into(canvas, target, boundless, lambda inside: self._valid_inside(indices, inside)[None])[0]

    def close(self) -> None:
        """Release the open files."""
        for dataset in self._datasets():
            dataset.close()

    def __enter__(self) -> Scene:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, bands={self.band_names}, size={self.width}x{self.height})"

    @abstractmethod
    def _read_inside(self, indices: list[int], window: Window) -> np.ndarray:
        """Raw values for a window that lies inside the scene."""

    @abstractmethod
    def _valid_inside(self, indices: list[int], window: Window) -> np.ndarray:
        """Validity ``(h, w)`` for a window that lies inside the scene."""

    @abstractmethod
    def _datasets(self) -> list[DatasetReader]:
        """The open rasterio datasets behind the scene."""

    def _band_indices(self, bands: Sequence[int] | None) -> list[int]:
        """Check 0-based band indices; None means every band."""
        if bands is None:
            return list(range(self.count))
        indices = [int(band) for band in bands]
        if not indices or any(not 0 <= index < self.count for index in indices):
            raise DinoMCError(f"band indices {indices} are not among the {self.count} bands of {self.path} (0-based)")
        return indices

    def _window(self, window: Window | None) -> Window:
        """The requested window in whole pixels; the full scene when None."""
        if window is None:
            return Window(0, 0, self.width, self.height)
        return Window(round(window.col_off), round(window.row_off), round(window.width), round(window.height))

    def _read_into(
        self, canvas: np.ndarray, window: Window, boundless: bool, reader: Callable[[Window], np.ndarray]
    ) -> np.ndarray:
        """Fill ``canvas`` with what ``reader`` returns for the part of ``window`` that lies inside the scene."""
        col_start, row_start = max(window.col_off, 0), max(window.row_off, 0)
        col_stop = max(min(window.col_off + window.width, self.width), col_start)
        row_stop = max(min(window.row_off + window.height, self.height), row_start)
        inside = Window(col_start, row_start, col_stop - col_start, row_stop - row_start)
        if not boundless and (inside.width, inside.height) != (window.width, window.height):
            raise DinoMCError(
                f"window {window} goes past the {self.width}x{self.height} pixels of {self.path}; read it boundless"
            )
        if inside.width > 0 and inside.height > 0:
            rows = slice(row_start - window.row_off, row_stop - window.row_off)
            cols = slice(col_start - window.col_off, col_stop - window.col_off)
            with _reading(self.path):
                canvas[:, rows, cols] = reader(inside)
        return canvas


class RasterScene(Scene):
    """A multi-band raster in any format GDAL reads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._dataset = _open_raster(path)
        self.band_names, self.names_known = _raster_band_names(self._dataset, path.name)
        self.wavelengths = _raster_wavelengths(self._dataset)
        self.width, self.height = self._dataset.width, self._dataset.height
        self.crs, self.transform = self._dataset.crs, self._dataset.transform
        self.dtype = str(np.result_type(*self._dataset.dtypes))
        self.nodata = self._dataset.nodata

    def _read_inside(self, indices: list[int], window: Window) -> np.ndarray:
        return self._dataset.read([index + 1 for index in indices], window=window, out_dtype=self.dtype)

    def _valid_inside(self, indices: list[int], window: Window) -> np.ndarray:
        if all(self._dataset.mask_flag_enums[index] == [MaskFlags.all_valid] for index in indices):
            return np.ones((window.height, window.width), dtype=bool)
        masks = self._dataset.read_masks([index + 1 for index in indices], window=window)
        return np.all(masks > 0, axis=0)

    def _datasets(self) -> list[DatasetReader]:
        return [self._dataset]


class BandFolderScene(Scene):
    """A folder of one-file-per-band rasters, stacked in Sentinel-2 order on the grid of its finest band.

    Opening reads one file when the folder has a 10 m Sentinel-2 band (the finest); the other bands are opened and
    checked against its grid when first read, so that listing many scenes (BigEarthNet, SeCo) stays quick.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._files = band_files(path)
        if not self._files:
            raise DinoMCError(
                f"{path} holds no band files named like *_B02.tif; give a raster file or a folder of band files"
            )
        self.band_names, self.names_known = list(self._files), True
        self._open: dict[str, DatasetReader] = {}
        reference = self._finest_band()
        self.width, self.height = reference.width, reference.height
        self.crs, self.transform = reference.crs, reference.transform
        self.dtype, self.nodata = reference.dtypes[0], reference.nodata
        for name, band in self._open.items():
            self._check_band(name, band)

    def _finest_band(self) -> DatasetReader:
        """The dataset of a 10 m Sentinel-2 band when there is one, else of the band with the most pixels."""
        ten_metre = [name for name in self._files if name in SENTINEL2_10M_BANDS]
        for name in ten_metre[:1] or list(self._files):
            self._open[name] = _open_raster(self._files[name])
        return max(self._open.values(), key=lambda band: band.width * band.height)

    def _band(self, name: str) -> DatasetReader:
        """The open dataset of one band, opened and checked against the scene's grid on first use."""
        if name not in self._open:
            band = _open_raster(self._files[name])
            self._check_band(name, band)
            self._open[name] = band
        return self._open[name]

    def _check_band(self, name: str, band: DatasetReader) -> None:
        """Refuse a band of another type or CRS, or covering another area than the finest band (by half a pixel)."""
        if band.dtypes[0] != self.dtype:
            raise DinoMCError(f"band {name} of {self.path} holds {band.dtypes[0]}, not {self.dtype}; convert it")
        if band.crs != self.crs:
            raise DinoMCError(f"band {name} of {self.path} is in {band.crs}, not in {self.crs}; reproject it")
        tolerance = self.res[0] / 2, self.res[1] / 2
        for index, (edge, expected) in enumerate(zip(band.bounds, self.bounds)):
            if abs(edge - expected) > tolerance[index % 2]:
                raise DinoMCError(
                    f"band {name} of {self.path} covers {tuple(band.bounds)}, not the area of the finest band "
                    f"{tuple(self.bounds)}; keep only bands of one scene in the folder"
                )

    def _read_inside(self, indices: list[int], window: Window) -> np.ndarray:
        stack = np.empty((len(indices), window.height, window.width), dtype=self.dtype)
        for position, index in enumerate(indices):
            band = self._band(self.band_names[index])
            stack[position] = band.read(
                1, window=self._band_window(band, window), out_shape=stack.shape[1:], resampling=Resampling.bilinear
            )
        return stack

    def _valid_inside(self, indices: list[int], window: Window) -> np.ndarray:
        valid = np.ones((window.height, window.width), dtype=bool)
        for index in indices:
            band = self._band(self.band_names[index])
            if band.mask_flag_enums[0] != [MaskFlags.all_valid]:
                mask = band.read_masks(1, window=self._band_window(band, window), out_shape=valid.shape)
                valid &= mask > 0
        return valid

    def _band_window(self, band: DatasetReader, window: Window) -> Window:
        """The (fractional) window of ``band`` covering the same ground as ``window`` on the scene's grid."""
        if band.transform == self.transform:
            return window
        return from_bounds(*window_bounds(window, self.transform), transform=band.transform)

    def _datasets(self) -> list[DatasetReader]:
        return list(self._open.values())


def _open_raster(path: Path) -> DatasetReader:
    """Open one raster file, turning GDAL's refusal into a sentence (pictures without georeferencing are fine)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioError as error:
        raise DinoMCError(
            f"{path} is not a raster GDAL can read ({_root_cause(error)}); check that the file is complete and in a "
            "GDAL format"
        ) from error


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn a GDAL read failure (a truncated or corrupt file) into a sentence naming the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            yield
    except RasterioError as error:
        raise DinoMCError(
            f"could not read {path} ({_root_cause(error)}); the file is probably truncated or corrupt"
        ) from error


def _root_cause(error: BaseException) -> str:
    """GDAL's first complaint, which rasterio wraps in generic errors ("Read failed. See previous exception")."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return str(error)


def _raster_band_names(dataset: DatasetReader, file_name: str) -> tuple[list[str], bool]:
    """Band names from descriptions (when every band has a distinct one), RGB(A) colour interpretation, else numbers."""
    descriptions = [file_band_name(text, file_name) for text in dataset.descriptions if text and text.strip()]
    if len(descriptions) == dataset.count and len(set(descriptions)) == dataset.count:
        return descriptions, True
    colours = tuple(dataset.colorinterp)
    rgb = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
    if colours in (rgb, rgb + (ColorInterp.alpha,)):
        return list(RGB_BANDS) + ["alpha"] * (len(colours) - 3), True
    return [str(number) for number in range(1, dataset.count + 1)], False


def _raster_wavelengths(dataset: DatasetReader) -> list[float | None]:
    """Central wavelengths (µm) of the bands from the metadata GDAL exposes, None where a band has none.

    Looked up per band in this order: the ``wavelength`` item with its ``wavelength_units`` (what GDAL 3 reads from
    ENVI headers), GDAL's ``CENTRAL_WAVELENGTH_UM`` in the ``IMAGERY`` domain (GDAL 3.10+, rounded to nm), and the ENVI
    domain's ``wavelength = {...}`` list (older GDAL).
    """
    dataset_units = dataset.tags().get("wavelength_units")
    envi = dataset.tags(ns="ENVI")
    envi_list = [item.strip() for item in envi.get("wavelength", "").strip("{} ").split(",")]
    envi_units = envi.get("wavelength_units", dataset_units)
    wavelengths: list[float | None] = []
    for band in range(1, dataset.count + 1):
        tags = dataset.tags(band)
        candidates = (
            to_micrometres(tags.get("wavelength"), tags.get("wavelength_units", dataset_units)),
            to_micrometres(dataset.tags(band, ns="IMAGERY").get("CENTRAL_WAVELENGTH_UM"), "um"),
            to_micrometres(envi_list[band - 1], envi_units) if len(envi_list) == dataset.count else None,
        )
        wavelengths.append(next((value for value in candidates if value is not None), None))
    return wavelengths
"""Pretraining data packed into one file that reads without GDAL: for GPU hosts and clusters, and small enough to ship.

``python -m dinomc_core.pack INPUTS... --out data.npz`` reads the inputs as ``pretrain --data`` does (every date of
every place, the chosen bands on the scene's finest grid) and stores them in a zip of numpy arrays, LZMA-compressed
(``np.load`` reads it). ``pretrain --data data.npz`` then trains on it with numpy and torch alone, windows drawn as
from the rasters themselves, DINO-TP included (the dates of each place are kept together).

By default each band of each image is quantised to 255 levels between its 0.01 and 99.99 percentiles (the darkest
and brightest 0.01 % of values are clipped; code 255 is nodata) and stored as differences along rows, which LZMA
packs tighter: the 20 OSCD scenes (13 bands at 10 m, 183 MB as 16-bit values) take 42 MiB. The step, about 1/250
of a band's range, is small beside the noise the spectral policy adds (0.05 standard deviations). ``--lossless``
keeps the values as they are. Nodata is kept where the inputs declare a nodata value; validity masks without one
(alpha bands, GDAL mask files) are not packed. Packing holds one image in memory at a time.
"""
from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import numpy as np

from dinomc_core.atomic import atomic_path
from dinomc_core.data.bands import BandSet
from dinomc_core.errors import DinoMCError

PACKED_FORMAT = "dinomc-packed-pretraining-data/1"
"""The ``format`` entry of a packed file's metadata; files of another format are refused."""

PACKED_SUFFIX = ".npz"
"""The name a packed file must end with (what ``np.load`` expects of a zip of arrays)."""

QUANTISATION_PERCENTILES = (0.01, 99.99)
"""The band values mapped to the first and last level of 8-bit packing."""

NODATA_CODE = 255
"""The 8-bit code of nodata (levels 0 to 254 hold data)."""


class PixelWindow(NamedTuple):
    """A window in whole pixels, with the attribute names of ``rasterio.windows.Window`` (which scenes also take)."""

    col_off: int
    row_off: int
    width: int
    height: int


@dataclass(eq=False)
class PackedImage:
    """One date of one place in memory, read window by window like an opened scene (``read``, ``read_valid_mask``).

    ``codes`` are the stored values ``(C, H, W)``; with ``offset`` and ``step`` (per band) they are 8-bit codes of
    ``offset + step * code``, 255 meaning nodata.
    """

    codes: np.ndarray
    offset: np.ndarray | None
    step: np.ndarray | None
    nodata: float | None

    @property
    def height(self) -> int:
        return self.codes.shape[1]

    @property
    def width(self) -> int:
        return self.codes.shape[2]

    def read(self, bands: Sequence[int], window: PixelWindow) -> np.ndarray:
        """Raw values ``(C, h, w)`` as float32 (nodata where it was)."""
        codes = self._stored(bands, window)
        if self.offset is None:
            return codes.astype(np.float32)
        chosen = list(bands)
        values = self.offset[chosen, None, None] + self.step[chosen, None, None] * codes.astype(np.float32)
        if self.nodata is not None:
            values[codes == NODATA_CODE] = self.nodata
        return values.astype(np.float32)

    def read_valid_mask(self, window: PixelWindow, bands: Sequence[int]) -> np.ndarray:
        """``(h, w)`` booleans, False where any chosen band is nodata."""
        codes = self._stored(bands, window)
        missing = NODATA_CODE if self.offset is not None else self.nodata
        if missing is None:
            return np.ones(codes.shape[1:], dtype=bool)
        return ~(codes == missing).any(axis=0)

    def _stored(self, bands: Sequence[int], window: PixelWindow) -> np.ndarray:
        """The stored values of ``bands`` inside ``window``, ``(C, h, w)``."""
        return self.codes[list(bands), window.row_off : window.row_off + window.height,
                          window.col_off : window.col_off + window.width]

    def __enter__(self) -> PackedImage:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        return None


def quantise(values: np.ndarray, nodata: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-bit codes of ``(C, H, W)`` raw values and the per-band ``offset`` and ``step`` that give them back."""
    valid = np.ones(values.shape[1:], dtype=bool) if nodata is None else ~(values == nodata).any(axis=0)
    codes = np.full(values.shape, NODATA_CODE, dtype=np.uint8)
    offset = np.zeros(len(values), dtype=np.float32)
    step = np.ones(len(values), dtype=np.float32)
    for band, plane in enumerate(values):
        data = plane[valid].astype(np.float64)
        if data.size == 0:
            continue
        low, high = np.percentile(data, QUANTISATION_PERCENTILES)
        offset[band] = low
        step[band] = max((high - low) / (NODATA_CODE - 1), 1e-6)
        levels = np.clip(np.rint((plane.astype(np.float64) - low) / step[band]), 0, NODATA_CODE - 1)
        codes[band][valid] = levels[valid].astype(np.uint8)
    return codes, offset, step


def pack_pretrain_data(inputs: Sequence[str | Path], out: Path, bands: Sequence[str] | str | None = None,
                       lossless: bool = False) -> str:
    """Read every place and date of ``inputs`` (as ``pretrain --data``) and write them to ``out``; returns a summary."""
    from dinomc_core.data.pretrain_datasets import build_pretrain_dataset, group_places, open_source

    if out.suffix != PACKED_SUFFIX:
        raise DinoMCError(f"name the packed file {out.stem}{PACKED_SUFFIX}, not {out.name} (numpy reads {PACKED_SUFFIX})")
    dataset = build_pretrain_dataset(inputs, bands, temporal=False)
    places = group_places(dataset.places)
    meta: dict = {
        "format": PACKED_FORMAT, "band_names": dataset.band_names, "names_known": dataset.names_known,
        "wavelengths": list(dataset.wavelengths), "scale": dataset.scale[0], "gsd": dataset.gsd,
        "nodata": dataset.nodata, "quantised": not lossless, "places": [], "sources": [],
    }
    with atomic_path(out) as temporary, zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_LZMA) as archive:
        for place_number, dates in enumerate(places):
            names = []
            for date_number, place in enumerate(dates):
                source, chosen = place.scenes[0], list(place.bands[0])
                with open_source(source) as scene:
                    values = scene.read(chosen, PixelWindow(0, 0, place.width, place.height))
                name = f"place{place_number}_date{date_number}"
                if lossless:
                    _write_array(archive, name, values)
                else:
                    codes, offset, step = quantise(values, dataset.nodata)
                    _write_array(archive, name, np.diff(codes, axis=-1, prepend=np.uint8(0)))
                    _write_array(archive, f"{name}_offset", offset)
                    _write_array(archive, f"{name}_step", step)
                names.append(name)
                meta["sources"].append(str(source))
            meta["places"].append(names)
        archive.writestr("meta.json", json.dumps(meta))
    images = sum(len(names) for names in meta["places"])
    return (f"{images} images of {len(places)} places, {len(dataset.band_names)} bands, "
            f"{'lossless' if lossless else '8-bit'}, {out.stat().st_size / 2**20:.1f} MiB -> {out}")


def _write_array(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)


def is_packed_file(path: str | Path) -> bool:
    """Whether ``path`` is a packed pretraining file (a zip with this format's ``meta.json``)."""
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return "meta.json" in archive.namelist()


@dataclass(frozen=True)
class PackedData:
    """What a packed file holds: images grouped by place, and the facts the pretraining dataset needs."""

    places: list[list[PackedImage]]
    bands: BandSet
    scale: float
    gsd: float | None
    nodata: float | None


def read_packed(path: str | Path) -> PackedData:
    """Load a packed file into memory (codes stay 8-bit; windows are decoded as they are read)."""
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("meta.json"))
        if meta.get("format") != PACKED_FORMAT:
            raise DinoMCError(f"{path} is a {meta.get('format')!r} file, not packed pretraining data "
                              f"({PACKED_FORMAT}); pack the data again with python -m dinomc_core.pack")

        def array(name: str) -> np.ndarray:
            with archive.open(f"{name}.npy") as member:
                return np.lib.format.read_array(member, allow_pickle=False)

        def image(name: str) -> PackedImage:
            if not meta["quantised"]:
                return PackedImage(array(name), None, None, meta["nodata"])
            codes = np.cumsum(array(name), axis=-1, dtype=np.uint8)  # undoes the differences along rows, modulo 256
            return PackedImage(codes, array(f"{name}_offset"), array(f"{name}_step"), meta["nodata"])

        places = [[image(name) for name in names] for names in meta["places"]]
    wavelengths = tuple(meta["wavelengths"])
    return PackedData(places, BandSet(tuple(meta["band_names"]), meta["names_known"], wavelengths), meta["scale"],
                      meta["gsd"], meta["nodata"])

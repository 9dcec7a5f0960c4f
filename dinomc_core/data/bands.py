"""Bands: the known layouts, canonical names, central wavelengths, the one band matcher, default raw scales.

Every place that pairs bands goes through :func:`match_bands`: a model file's bands against a raster's, the first
pretraining input's against the others', a user's ``--bands`` against a raster's. A band is found by its name
(canonical spelling), else by its central wavelength (from the file's metadata, a ``(0.4825 Micrometers)`` suffix,
or the Sentinel-2 table), else by its 1-based position when it is asked for by number.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from dinomc_core.errors import DinoMCError

SENTINEL2_BANDS: tuple[str, ...] = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
)
"""Sentinel-2 MSI L1C bands in their canonical order (B8A after B08), as one-file-per-band scenes are stacked."""

EUROSAT_MS_BANDS: tuple[str, ...] = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A",
)
"""Band order inside EuroSAT multispectral GeoTIFFs: B8A is stored last, not after B08."""

BIGEARTHNET_BANDS: tuple[str, ...] = tuple(band for band in SENTINEL2_BANDS if band != "B10")
"""BigEarthNet-S2 (L2A) bands: the 12 Sentinel-2 bands without the cirrus band B10."""

RGB_BANDS: tuple[str, ...] = ("red", "green", "blue")
"""Names given to the bands of RGB pictures (JPEG, PNG, GeoTIFFs with a red/green/blue colour interpretation)."""

SENTINEL2_10M_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08")
"""The Sentinel-2 bands sampled every 10 m, the finest grid of a Sentinel-2 scene."""

SENTINEL2_RGB_BANDS: tuple[str, ...] = ("B04", "B03", "B02")
"""The Sentinel-2 bands that show red, green and blue."""

SENTINEL2_REFLECTANCE_SCALE = 1e-4
"""Sentinel-2 L1C digital numbers and L2A reflectance are stored as reflectance x 10000."""

SENTINEL2_WAVELENGTHS: dict[str, float] = {
    "B01": 0.4427, "B02": 0.4924, "B03": 0.5598, "B04": 0.6646, "B05": 0.7041, "B06": 0.7405, "B07": 0.7828,
    "B08": 0.8328, "B8A": 0.8647, "B09": 0.9451, "B10": 1.3735, "B11": 1.6137, "B12": 2.2024,
}
"""Central wavelengths (µm) of the Sentinel-2A MSI bands (ESA); Sentinel-2B's differ by less than 1 %."""

WAVELENGTH_TOLERANCE = 0.025
"""Two bands are taken for one when their central wavelengths differ by at most this fraction (the nearest wins).

Wide enough for one sensor's units rounded differently or for Sentinel-2A against 2B (B12: 2202 and 2186 nm),
narrow enough to keep neighbours apart (B08 and B8A are 3.8 % apart)."""

LANDSAT_PRODUCT = re.compile(r"L[COTEM]0\d_|L[COTEM]\d{14}|L\d{8}_\d{11}", re.IGNORECASE)
"""The start of a Landsat file name: ``LC08_L1TP_...``, ``LC80440342014077LGN00...``, ``L71119038_03820000317...``."""

_SENTINEL2_NAME = re.compile(r"B0?(8A|\d{1,2})", re.IGNORECASE)
_WAVELENGTH_IN_NAME = re.compile(
    r"(\d+(?:\.\d+)?)\s*(micrometers|micrometres|microns|µm|um|nanometers|nanometres|nm)\b", re.IGNORECASE
)
_UNITS_IN_MICROMETRES = {"micrometers": 1.0, "micrometres": 1.0, "microns": 1.0, "micron": 1.0, "µm": 1.0, "um": 1.0,
                         "nanometers": 1e-3, "nanometres": 1e-3, "nm": 1e-3, "millimeters": 1e3, "mm": 1e3}
_UNKNOWN_UNITS = frozenset({"", "unknown"})
_COLOUR_NAMES = frozenset(RGB_BANDS + ("alpha",))


def canonical_band_name(name: str) -> str:
    """Spell a band name one way: Sentinel-2 names as ``B02``/``B8A`` (from ``B2``, ``b8a``...), colours in lower case.

    Files name the same band ``B2``, ``B02`` or ``b02``; one spelling lets names from files, users and model files
    be compared directly. Other names are returned stripped but otherwise unchanged.
    """
    stripped = name.strip()
    sentinel2 = _SENTINEL2_NAME.fullmatch(stripped)
    if sentinel2:
        number = sentinel2.group(1).upper()
        candidate = "B8A" if number == "8A" else f"B{int(number):02d}"
        if candidate in SENTINEL2_BANDS:
            return candidate
    if stripped.lower() in _COLOUR_NAMES:
        return stripped.lower()
    return stripped


def file_band_name(token: str, file_name: str) -> str:
    """The name of a band called ``token`` (``B1``, ``B02``...) in a file: Landsat bands keep a name of their own.

    Landsat files name their bands ``B1`` to ``B11`` too (``LC08_..._B10.TIF`` is thermal, not Sentinel-2's cirrus
    band), so in a Landsat product such a token becomes ``Landsat B10``, which no Sentinel-2 name matches.
    """
    if LANDSAT_PRODUCT.match(file_name) and _SENTINEL2_NAME.fullmatch(token.strip()):
        return f"Landsat {token.strip().upper()}"
    return canonical_band_name(token)


def to_micrometres(value: str | float, units: str | None) -> float | None:
    """A wavelength in µm from a value and its units (nm, µm...); None when it is not a wavelength.

    Without units (or ``Unknown``, as ENVI writes) values above 100 are taken for nanometres and fractional values
    from 0.2 to 30 for micrometres; whole numbers below 100 are band numbers, not wavelengths.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    unit = (units or "").strip().lower()
    if unit in _UNKNOWN_UNITS:
        if number > 100:
            return number * 1e-3
        return number if 0.2 <= number <= 30 and not number.is_integer() else None
    factor = _UNITS_IN_MICROMETRES.get(unit)
    return number * factor if factor is not None and number > 0 else None


def name_wavelength(name: str) -> float | None:
    """The central wavelength (µm) a band name tells: a ``(0.4825 Micrometers)``/``(865 nm)`` part, or a Sentinel-2
    name; None otherwise."""
    written = _WAVELENGTH_IN_NAME.findall(name)
    if written:
        value, unit = written[-1]
        return to_micrometres(value, unit)
    return SENTINEL2_WAVELENGTHS.get(canonical_band_name(name))


def name_with_wavelength(name: str, wavelength: float | None) -> str:
    """``name`` with its wavelength appended when the name does not tell it, so a model file's band names keep it."""
    if wavelength is None or same_wavelength(name_wavelength(name), wavelength):
        return name
    return f"{name} ({wavelength:.6g} Micrometers)"


def same_wavelength(first: float | None, second: float | None) -> bool:
    """Whether two central wavelengths name one band (within :data:`WAVELENGTH_TOLERANCE`)."""
    return first is not None and second is not None and abs(first - second) <= WAVELENGTH_TOLERANCE * second


def is_sentinel2(band_names: Sequence[str]) -> bool:
    """Whether every band name is a Sentinel-2 band (``B01``...``B12``, ``B8A``)."""
    return bool(band_names) and all(canonical_band_name(name) in SENTINEL2_BANDS for name in band_names)


def rgb_indices(band_names: Sequence[str]) -> tuple[int, int, int] | None:
    """Positions of the red, green and blue bands (``red/green/blue`` or Sentinel-2 ``B04/B03/B02``), else None.

    Colour augmentations such as saturation and hue only make sense on these three bands.
    """
    positions = {canonical_band_name(name): index for index, name in enumerate(band_names)}
    for triple in (RGB_BANDS, SENTINEL2_RGB_BANDS):
        if all(name in positions for name in triple):
            red, green, blue = (positions[name] for name in triple)
            return red, green, blue
    return None


def default_scale(dtype: DTypeLike, band_names: Sequence[str]) -> float:
    """Factor turning raw values into reflectance-like values in [0, 1]: raw * scale.

    Sentinel-2 integers (digital numbers, reflectance x 10000) -> 1/10000; uint8 -> 1/255; other integers -> 1/max of
    the type (uint16 without Sentinel-2 names -> 1/65535); floating point is taken as already scaled (1).
    """
    kind = np.dtype(dtype)
    if np.issubdtype(kind, np.floating):
        return 1.0
    if not np.issubdtype(kind, np.integer):
        raise DinoMCError(f"raster values of type {kind} are not numbers; use integer or floating-point rasters")
    if kind.itemsize > 1 and is_sentinel2(band_names):
        return SENTINEL2_REFLECTANCE_SCALE
    return 1.0 / float(np.iinfo(kind).max)


@dataclass(frozen=True)
class BandSet:
    """Bands in their order: names, whether the names are real (not ``"1".."N"``), central wavelengths (µm).

    Wavelengths not given (None) are read from the names when the names are real (:func:`name_wavelength`).
    """

    names: tuple[str, ...]
    names_known: bool = True
    wavelengths: tuple[float | None, ...] = ()

    def __post_init__(self) -> None:
        names = tuple(self.names)
        given = tuple(self.wavelengths) or (None,) * len(names)
        if len(given) != len(names):
            raise ValueError(f"{len(names)} band names but {len(given)} wavelengths")
        from_names = [name_wavelength(name) if self.names_known else None for name in names]
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "wavelengths", tuple(
            wavelength if wavelength is not None else named for wavelength, named in zip(given, from_names)
        ))

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, indices: Sequence[int]) -> BandSet:
        """The bands at ``indices``, in that order."""
        return BandSet(tuple(self.names[index] for index in indices), self.names_known,
                       tuple(self.wavelengths[index] for index in indices))


@dataclass(frozen=True)
class BandMatch:
    """Where each wanted band was found (0-based indices, in the wanted order) and by which rule.

    ``rule`` is ``name`` when every band was found by name, else ``wavelength`` or ``position`` (the weakest used).
    """

    indices: list[int]
    rule: str
    wavelengths: tuple[float | None, ...]

    def sentence(self, source: str) -> str:
        """One short sentence saying how ``source``'s bands were matched, for the progress log."""
        if self.rule == "wavelength":
            return f"{source}: bands matched by wavelength ({wavelength_list(self.wavelengths)})"
        if self.rule == "position":
            return f"{source}: bands {', '.join(str(index + 1) for index in self.indices)} taken by position"
        return f"{source}: bands matched by name"


def wavelength_list(wavelengths: Sequence[float | None]) -> str:
    """Wavelengths for a sentence: ``0.482, 0.565, 0.66 µm`` (``?`` where unknown)."""
    return ", ".join("?" if value is None else f"{value:.3g}" for value in wavelengths) + " µm"


def parse_band_request(requested: Sequence[str] | str) -> list[str]:
    """Split ``"B02,B03"``, ``["B02", "B03"]``, ``["1,2", "3"]`` or ``"1 2 3"`` into stripped, non-empty tokens.

    Whitespace separates only numbers, as band names may hold spaces (``Band 1 (0.4825 Micrometers)``).
    """
    items = [requested] if isinstance(requested, str) else [str(item) for item in requested]
    tokens: list[str] = []
    for part in (part.strip() for item in items for part in item.split(",")):
        tokens.extend(part.split() if re.fullmatch(r"\d+(\s+\d+)+", part) else [part] if part else [])
    if not tokens:
        raise DinoMCError("the band list is empty; name bands like 'B02,B03,B04' or give 1-based indices like '1,2,3'")
    return tokens


def is_index_request(requested: Sequence[str] | str | None) -> bool:
    """Whether a band request gives only 1-based numbers (bands chosen by position)."""
    return requested is not None and all(token.isdigit() for token in parse_band_request(requested))


def select_bands(available: BandSet, requested: Sequence[str] | str | None, source: str = "the raster") -> list[int]:
    """0-based indices of the requested bands among ``available``; None selects every band.

    A token is a band name (or another spelling of it, or a name with the same central wavelength) or a 1-based
    index as GDAL counts bands. A missing band raises a :class:`DinoMCError` naming it and what ``source`` has.
    """
    if requested is None:
        return list(range(len(available)))
    return match_bands(available, BandSet(tuple(parse_band_request(requested))), source, "the band list").indices


def match_bands(
    available: BandSet, wanted: BandSet, source: str = "the data", needer: str = "the model",
    unnamed_by_position: bool = False,
) -> BandMatch:
    """Where each of ``wanted``'s bands lies in ``available``: the one matcher for every pair of band lists.

    A wanted band is found by name (canonical spelling, when ``available`` has real names), else by the nearest
    central wavelength within :data:`WAVELENGTH_TOLERANCE`, else, when its name is a number, at that 1-based
    position. With ``unnamed_by_position``, unnamed data with as many bands as wanted is taken in order. A band
    not found, or found twice, is a :class:`DinoMCError` naming ``needer``, the missing bands and ``source``.
    """
    if unnamed_by_position and not available.names_known and len(available) == len(wanted):
        indices = list(range(len(available)))
        return BandMatch(indices, "position", available.wavelengths)
    named = {canonical_band_name(name): index for index, name in enumerate(available.names)} \
        if available.names_known else {}
    found: list[int | None] = [named.get(canonical_band_name(name)) for name in wanted.names]
    rules = ["name" if index is not None else "" for index in found]
    for position, wavelength in enumerate(wanted.wavelengths):
        if found[position] is None:
            found[position] = _nearest_wavelength(wavelength, available, taken=found)
            rules[position] = "wavelength" if found[position] is not None else ""
    for position, name in enumerate(wanted.names):
        if found[position] is None and name.strip().isdigit() and 1 <= int(name) <= len(available):
            found[position], rules[position] = int(name) - 1, "position"
    missing = [name for name, index in zip(wanted.names, found) if index is None]
    if missing:
        raise DinoMCError(_missing_bands_message(missing, available, source, needer))
    indices = [int(index) for index in found if index is not None]
    if len(set(indices)) != len(indices):
        raise DinoMCError(f"{needer} names a band of {source} twice ({', '.join(wanted.names)}); list each band once")
    rule = next((kind for kind in ("position", "wavelength") if kind in rules), "name")
    return BandMatch(indices, rule, tuple(available.wavelengths[index] for index in indices))


def _nearest_wavelength(wavelength: float | None, available: BandSet, taken: Sequence[int | None]) -> int | None:
    """The untaken band of ``available`` whose central wavelength is nearest to ``wavelength`` (within tolerance)."""
    candidates = [
        (abs(other - wavelength), index) for index, other in enumerate(available.wavelengths)
        if index not in taken and same_wavelength(other, wavelength)
    ]
    return min(candidates)[1] if candidates else None


def _missing_bands_message(missing: Sequence[str], available: BandSet, source: str, needer: str) -> str:
    """One sentence saying which bands are missing, what ``source`` has instead and how to choose bands."""
    wanted = ", ".join(missing)
    count = len(available)
    if not available.names_known and not any(available.wavelengths):
        return (
            f"{needer} needs band(s) {wanted} but {source} has {count} unnamed bands; "
            f"choose them by 1-based index (1 to {count})"
        )
    return (
        f"{needer} needs band(s) {wanted}, not found among the {count} bands of {source} "
        f"({short_list(available.names)}); choose bands by name or by 1-based index (1 to {count})"
    )


def short_list(names: Sequence[str], limit: int = 160) -> str:
    """Names joined with commas, cut after about ``limit`` characters ("and 5 more"), so errors stay one line."""
    shown: list[str] = []
    for name in names:
        if shown and len(", ".join([*shown, name])) > limit:
            return f"{', '.join(shown)} and {len(names) - len(shown)} more"
        shown.append(name)
    return ", ".join(shown)

"""Band names: the known layouts, canonical spelling, choosing bands by name or index, default raw scales."""
from __future__ import annotations

import re
from collections.abc import Sequence

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

_SENTINEL2_NAME = re.compile(r"B0?(8A|\d{1,2})", re.IGNORECASE)
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


def parse_band_request(requested: Sequence[str] | str) -> list[str]:
    """Split ``"B02,B03"`` or ``["B02", "B03"]`` into stripped, non-empty tokens."""
    tokens = requested.split(",") if isinstance(requested, str) else [str(token) for token in requested]
    cleaned = [token.strip() for token in tokens if token.strip()]
    if not cleaned:
        raise DinoMCError("the band list is empty; name bands like 'B02,B03,B04' or give 1-based indices like '1,2,3'")
    return cleaned


def select_bands(available: Sequence[str], requested: Sequence[str] | str | None, names_known: bool) -> list[int]:
    """0-based indices of the requested bands among ``available``; None selects every band.

    A token is a band name (matched in canonical spelling, only when the file's names are known) or a 1-based index
    as GDAL counts bands. Unknown names raise a :class:`DinoMCError` listing the missing and the available bands.
    """
    if requested is None:
        return list(range(len(available)))
    positions = {canonical_band_name(name): index for index, name in enumerate(available)} if names_known else {}
    indices: list[int] = []
    missing: list[str] = []
    for token in parse_band_request(requested):
        index = _band_index(token, positions, len(available))
        if index is None:
            missing.append(token)
        else:
            indices.append(index)
    if missing:
        raise DinoMCError(_missing_bands_message(missing, available, names_known))
    if len(set(indices)) != len(indices):
        raise DinoMCError(f"bands {', '.join(parse_band_request(requested))} name a band twice; list each band once")
    return indices


def _band_index(token: str, positions: dict[str, int], count: int) -> int | None:
    """The 0-based index of one requested band token, or None when the raster has no such band."""
    name = canonical_band_name(token)
    if name in positions:
        return positions[name]
    if token.isdigit() and 1 <= int(token) <= count:
        return int(token) - 1
    return None


def _missing_bands_message(missing: Sequence[str], available: Sequence[str], names_known: bool) -> str:
    """One sentence saying which requested bands are missing and what can be chosen instead."""
    wanted = ", ".join(missing)
    if names_known:
        return f"band(s) {wanted} not found; the raster has bands {', '.join(available)}"
    return (
        f"band(s) {wanted} not found; the raster has {len(available)} unnamed bands, "
        f"so choose them by 1-based index (1 to {len(available)})"
    )

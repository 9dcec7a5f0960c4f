"""Rasters as users have them, cut from the real Landsat 7 sample: ENVI exports whose band names carry the scene
identifier (two dates, so two identifiers), and a single small GeoTIFF scene. Imported by data and CLI tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

ETM_BANDS = ((1, 0.4825), (2, 0.565), (3, 0.66))
"""Landsat 7 ETM+ bands 1 (blue), 2 (green) and 3 (red) and their central wavelengths (µm)."""

SCENE_IDS = ("L71119038_03820000317", "L71119038_03820010518")
"""Two dates of one Landsat path and row, as ENVI names them in band names."""


def envi_band_name(band: int, scene_id: str) -> str:
    """A band name as ENVI's Resize of a Landsat metadata file writes it."""
    return f"Resize (ETM+ Meta (Band {band}):{scene_id}_MTL.txt)"


def landsat_window(landsat: Path, window: Window) -> tuple[np.ndarray, rasterio.Affine]:
    """Blue, green and red (ETM+ bands 1, 2, 3) of the RGB sample inside ``window``, and the window's transform."""
    with rasterio.open(landsat) as source:
        return source.read(window=window)[::-1].copy(), source.window_transform(window)


def write_envi_date(path: Path, landsat: Path, date: int = 0, size: int = 300, order: tuple[int, ...] = (0, 1, 2)) -> Path:
    """One date as an ENVI ``.dat`` with a hand-written ``.hdr``: map info, band names with the scene id,
    ``wavelength`` and ``wavelength units``. The second date (``date=1``) is shifted by a few pixels, a little
    brighter and noisy; ``order`` stores the bands in another order."""
    shift = 12 * date
    pixels, transform = landsat_window(landsat, Window(250 + shift, 200 + shift // 2, size, size))
    if date:
        noise = np.random.default_rng(date).normal(0, 3, pixels.shape)
        pixels = np.where(pixels > 0, np.clip(pixels * 1.05 + noise, 1, 255), 0).astype(np.uint8)
    bands = [ETM_BANDS[index] for index in order]
    pixels[list(order)].tofile(path)
    names = ",\n ".join(envi_band_name(band, SCENE_IDS[date]) for band, _ in bands)
    wavelengths = ", ".join(f"{wavelength:.6f}" for _, wavelength in bands)
    path.with_suffix(".hdr").write_text(
        "ENVI\ndescription = {\n  Resize Result, x resize factor: 1.000000, y resize factor: 1.000000.}\n"
        f"samples = {size}\nlines   = {size}\nbands   = {len(bands)}\nheader offset = 0\nfile type = ENVI Standard\n"
        "data type = 1\ninterleave = bsq\nsensor type = Landsat\nbyte order = 0\n"
        f"map info = {{UTM, 1.000, 1.000, {transform.c}, {transform.f}, {transform.a}, {-transform.e}, 18, North, "
        "WGS-84, units=Meters}\n"
        f"data ignore value = 0\nwavelength units = Micrometers\nband names = {{\n {names}}}\n"
        f"wavelength = {{\n {wavelengths}}}\n"
    )
    return path


def write_envi_pair(folder: Path, landsat: Path, size: int = 300) -> tuple[Path, Path]:
    """Two dates of one place as ENVI files whose band names differ by their scene identifiers."""
    folder.mkdir(parents=True, exist_ok=True)
    return (write_envi_date(folder / f"{SCENE_IDS[0]}.dat", landsat, 0, size),
            write_envi_date(folder / f"{SCENE_IDS[1]}.dat", landsat, 1, size))


def write_small_scene(path: Path, landsat: Path, size: int = 400) -> Path:
    """A single ``size`` x ``size`` GeoTIFF scene cut from the middle of the sample."""
    window = Window(200, 150, size, size)
    with rasterio.open(landsat) as source:
        profile = {**source.profile, "width": size, "height": size, "transform": source.window_transform(window)}
        with rasterio.open(path, "w", **profile) as target:
            target.write(source.read(window=window))
            target.colorinterp = source.colorinterp
    return path

"""The second date on the first date's grid: real OSCD pairs whose grids differ, and dates that do not overlap."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasterio.enums import Resampling
from rasterio.transform import array_bounds, from_origin
from rasterio.warp import calculate_default_transform, reproject

from dinomc_core.data import open_scene
from dinomc_core.errors import DinoMCError
from dinomc_core.inference.align import AlignedScene, align_to
from tests.inference.builders import smooth_scene, write_raster

OSCD = "oscd/Onera Satellite Change Detection dataset - Images"


def test_saclay_after_image_is_warped_onto_the_before_grid(shared_data: Path) -> None:
    city = shared_data / OSCD / "saclay_e"
    before, after = open_scene(city / "imgs_1"), open_scene(city / "imgs_2")
    assert (after.width, after.height) != (before.width, before.height)
    aligned = align_to(after, before)
    assert isinstance(aligned, AlignedScene)
    assert (aligned.width, aligned.height, aligned.transform) == (before.width, before.height, before.transform)
    bands = [before.band_names.index(name) for name in ("B02", "B03", "B04")]
    first, second = before.read(bands).astype(float), aligned.read(bands)
    valid = aligned.read_valid_mask(None, bands)
    assert valid.mean() > 0.95
    correlation = np.corrcoef(first[2][valid], second[2][valid])[0, 1]
    shifted = np.corrcoef(first[2][:-6][valid[6:]], second[2][6:][valid[6:]])[0, 1]
    assert correlation > 0.5 and correlation > shifted + 0.1


def test_same_grid_is_left_alone(shared_data: Path) -> None:
    city = shared_data / OSCD / "bercy"
    before, after = open_scene(city / "imgs_1"), open_scene(city / "imgs_2")
    assert align_to(after, before) is after


def test_other_crs_and_outside_footprint_become_nodata(tmp_path: Path) -> None:
    data = smooth_scene(100, 100, 2)
    grid = from_origin(500000, 5400000, 10, 10)
    before = open_scene(write_raster(tmp_path / "a.tif", data, ["B02", "B03"], transform=grid))
    left = data[:, :, :60]
    transform, width, height = calculate_default_transform("EPSG:32631", "EPSG:4326", 60, 100, *array_bounds(100, 60, grid))
    warped = np.zeros((2, height, width), np.uint16)
    reproject(left, warped, src_transform=grid, src_crs="EPSG:32631", dst_transform=transform, dst_crs="EPSG:4326",
              resampling=Resampling.bilinear)
    after = open_scene(write_raster(tmp_path / "b.tif", warped, ["B02", "B03"], crs="EPSG:4326", transform=transform))
    aligned = align_to(after, before)
    valid = aligned.read_valid_mask()
    assert valid[2:-2, 2:57].all() and not valid[:, 62:].any()
    inner = aligned.read()[0, 5:95, 5:55]
    assert np.corrcoef(inner.ravel(), data[0, 5:95, 5:55].ravel())[0, 1] > 0.95


def test_dates_that_do_not_overlap_are_refused(tmp_path: Path) -> None:
    data = smooth_scene(50, 50, 2)
    before = open_scene(write_raster(tmp_path / "a.tif", data, ["B02", "B03"]))
    after = open_scene(write_raster(tmp_path / "b.tif", data, ["B02", "B03"], transform=from_origin(600000, 5400000, 10, 10)))
    with pytest.raises(DinoMCError, match="do not overlap"):
        align_to(after, before)

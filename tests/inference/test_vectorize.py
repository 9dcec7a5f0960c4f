"""Polygons: one per connected region, regions cut by strip borders put back together, areas, sieving."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from rasterio.transform import from_origin

from dinomc_core.inference import vectorize
from tests.inference.builders import write_raster


@pytest.fixture()
def class_raster(tmp_path: Path) -> Path:
    classes = np.full((1, 100, 80), 255, np.uint8)
    classes[0, 10:90, 10:30] = 0  # a tall region that crosses strip borders
    classes[0, 40:45, 50:55] = 1  # 25 px
    classes[0, 60:61, 70:71] = 1  # 1 px
    return write_raster(tmp_path / "classes.tif", classes, nodata=255, transform=from_origin(500000, 5400000, 10, 10))


def test_regions_are_whole_with_class_and_area(class_raster: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(vectorize, "STRIP_ROWS", 16)
    count = vectorize.polygonize(class_raster, tmp_path / "out.gpkg", {0: "crop", 1: "forest"})
    frame = gpd.read_file(tmp_path / "out.gpkg")
    assert count == len(frame) == 3
    tall = frame[frame.class_id == 0].iloc[0]
    assert tall.class_name == "crop" and tall.area_m2 == pytest.approx(80 * 20 * 100) and tall.area_ha == pytest.approx(16.0)
    assert sorted(frame[frame.class_id == 1].area_m2) == pytest.approx([100.0, 2500.0])
    assert frame.crs.to_epsg() == 32631


def test_min_area_sieves_small_regions(class_raster: Path, tmp_path: Path) -> None:
    vectorize.polygonize(class_raster, tmp_path / "out.gpkg", {0: "crop", 1: "forest"}, min_area_m2=500)
    assert sorted(gpd.read_file(tmp_path / "out.gpkg").area_m2) == pytest.approx([2500.0, 160000.0])


def test_no_region_gives_a_valid_empty_layer(class_raster: Path, tmp_path: Path) -> None:
    assert vectorize.polygonize(class_raster, tmp_path / "empty.gpkg", {7: "none"}) == 0
    frame = gpd.read_file(tmp_path / "empty.gpkg")
    assert len(frame) == 0 and {"class_id", "class_name", "area_m2", "area_ha"} <= set(frame.columns)

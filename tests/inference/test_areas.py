"""Pixel and polygon areas in square metres, in projected and in geographic coordinates."""
from __future__ import annotations

import numpy as np
import shapely
from affine import Affine
from rasterio.crs import CRS

from dinomc_core.inference.areas import pixel_areas_by_row, polygon_areas


def test_projected_pixels_and_polygons() -> None:
    areas = pixel_areas_by_row(CRS.from_epsg(32631), Affine(10, 0, 0, 0, -10, 0), 0, 3)
    np.testing.assert_allclose(areas, 100.0)
    polygons = np.array([shapely.box(0, 0, 100, 50)], dtype=object)
    np.testing.assert_allclose(polygon_areas(polygons, CRS.from_epsg(32631)), 5000.0)


def test_geographic_pixels_shrink_towards_the_poles() -> None:
    degree = 0.0001
    equator = pixel_areas_by_row(CRS.from_epsg(4326), Affine(degree, 0, 2.0, 0, -degree, 0.0), 0, 1)[0]
    paris = pixel_areas_by_row(CRS.from_epsg(4326), Affine(degree, 0, 2.0, 0, -degree, 48.8), 0, 1)[0]
    assert 120 < equator < 125 and abs(paris / equator - np.cos(np.radians(48.8))) < 0.01
    box = np.array([shapely.box(2.0, 48.8, 2.0 + degree, 48.8 + degree)], dtype=object)
    np.testing.assert_allclose(polygon_areas(box, CRS.from_epsg(4326)), paris, rtol=1e-3)


def test_no_crs_means_unknown_area() -> None:
    assert np.isnan(pixel_areas_by_row(None, Affine.identity(), 0, 2)).all()

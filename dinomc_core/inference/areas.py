"""Ground areas of pixels and polygons in square metres, also for rasters in geographic (degree) coordinates.

In a projected CRS a pixel's area is the transform's determinant in the CRS's linear unit; in longitude/latitude
it shrinks towards the poles, so it is computed on the WGS 84 ellipsoid row by row. Without a CRS, areas are
unknown (NaN).
"""
from __future__ import annotations

import numpy as np
import shapely
from affine import Affine
from pyproj import Geod
from rasterio.crs import CRS

SQUARE_METRES_PER_HECTARE = 10_000.0
_GEOD = Geod(ellps="WGS84")


def pixel_areas_by_row(crs: CRS | None, transform: Affine, first_row: int, n_rows: int) -> np.ndarray:
    """Area in m² of one pixel of each of ``n_rows`` rows starting at ``first_row`` (NaN without a CRS)."""
    if crs is None:
        return np.full(n_rows, np.nan)
    if not crs.is_geographic:
        unit = crs.linear_units_factor[1]
        return np.full(n_rows, abs(transform.determinant) * unit * unit)
    return np.array([_geodesic_pixel_area(transform, row) for row in range(first_row, first_row + n_rows)])


def _geodesic_pixel_area(transform: Affine, row: int) -> float:
    """Ellipsoidal area of the pixel in column 0 of ``row`` (all pixels of a row have the same area)."""
    corners = [transform * (0, row), transform * (1, row), transform * (1, row + 1), transform * (0, row + 1)]
    lons, lats = zip(*corners)
    area, _ = _GEOD.polygon_area_perimeter(lons, lats)
    return abs(area)


def polygon_areas(geometries: np.ndarray, crs: CRS | None) -> np.ndarray:
    """Area in m² of each shapely polygon in ``crs`` (NaN without a CRS)."""
    if crs is None:
        return np.full(len(geometries), np.nan)
    if crs.is_geographic:
        return np.array([abs(_GEOD.geometry_area_perimeter(geometry)[0]) for geometry in geometries])
    unit = crs.linear_units_factor[1]
    return shapely.area(geometries) * unit * unit

"""Polygons from a class or change raster: one feature per connected region, with its class and ground area.

The raster is read in strips, so memory follows the number of polygons, not the raster's size. Regions cut by a
strip border are put back together (dissolved per class and split into connected parts) before their area is
measured and small ones are sieved out.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import shapely
from rasterio.windows import Window

from dinomc_core.inference.areas import SQUARE_METRES_PER_HECTARE, polygon_areas

STRIP_ROWS = 1024


def polygonize(raster: Path, output: Path, names: Mapping[int, str], min_area_m2: float = 0.0, layer: str = "regions") -> int:
    """Write a GeoPackage of the connected regions of the values in ``names``; returns how many were written.

    Each feature has ``class_id``, ``class_name``, ``area_m2`` and ``area_ha``; regions smaller than
    ``min_area_m2`` are dropped. A raster without such regions gives a valid, empty layer.
    """
    with rasterio.open(raster) as dataset:
        crs = dataset.crs
        pieces = list(_strip_polygons(dataset, names))
    regions = _join_cut_regions(pieces)
    frame = _region_frame(regions, names, crs)
    frame = frame[frame["area_m2"].isna() | (frame["area_m2"] >= min_area_m2)]
    frame.to_file(output, layer=layer, driver="GPKG", geometry_type="Polygon")
    return len(frame)


def _strip_polygons(
    dataset: rasterio.io.DatasetReader, names: Mapping[int, str]
) -> Iterator[tuple[int, shapely.Polygon, bool]]:
    """(value, polygon, cut) for each region of each strip; ``cut`` marks regions touching an inner strip border."""
    keep = np.array(sorted(names))
    for top in range(0, dataset.height, STRIP_ROWS):
        window = Window(0, top, dataset.width, min(STRIP_ROWS, dataset.height - top))
        values = dataset.read(1, window=window)
        mask = np.isin(values, keep)
        transform = dataset.window_transform(window)
        bottom = top + window.height
        for geometry, value in rasterio.features.shapes(values, mask=mask, transform=transform):
            polygon = shapely.geometry.shape(geometry)
            rows = _row_span(polygon, transform)
            cut = (top > 0 and rows[0] <= 0) or (bottom < dataset.height and rows[1] >= window.height)
            yield int(value), polygon, cut


def _row_span(polygon: shapely.Polygon, transform: rasterio.Affine) -> tuple[float, float]:
    """The polygon's first and last row edge inside its strip."""
    _, min_y, _, max_y = polygon.bounds
    inverse = ~transform
    rows = sorted([(inverse * (0, min_y))[1], (inverse * (0, max_y))[1]])
    return round(rows[0], 6), round(rows[1], 6)


def _join_cut_regions(pieces: list[tuple[int, shapely.Polygon, bool]]) -> list[tuple[int, shapely.Polygon]]:
    """Whole regions: uncut pieces as they are, cut pieces dissolved per value and split into connected parts."""
    regions = [(value, polygon) for value, polygon, cut in pieces if not cut]
    cut_by_value: dict[int, list[shapely.Polygon]] = {}
    for value, polygon, cut in pieces:
        if cut:
            cut_by_value.setdefault(value, []).append(polygon)
    for value, polygons in cut_by_value.items():
        merged = shapely.union_all(polygons)
        regions.extend((value, part) for part in shapely.get_parts(merged) if isinstance(part, shapely.Polygon))
    return regions


def _region_frame(regions: list[tuple[int, shapely.Polygon]], names: Mapping[int, str], crs) -> gpd.GeoDataFrame:
    """The regions as a GeoDataFrame with class and area columns (typed, also when empty)."""
    geometries = np.array([polygon for _, polygon in regions], dtype=object)
    areas = polygon_areas(geometries, crs) if regions else np.array([], dtype=float)
    values = [value for value, _ in regions]
    columns = {
        "class_id": pd.Series(values, dtype="int32"),
        "class_name": pd.Series([names[value] for value in values], dtype="object"),
        "area_m2": pd.Series(areas, dtype="float64"),
        "area_ha": pd.Series(areas / SQUARE_METRES_PER_HECTARE, dtype="float64"),
    }
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries(list(geometries), crs=crs))

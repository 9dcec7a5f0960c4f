"""Generic labelled data: class-per-folder chips, raster + label raster, raster + polygons or points."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from shapely.geometry import Point, box

from dinomc_core.data.labelled import (
    Chip,
    ChipSet,
    chip_centres,
    connected_regions,
    default_palette,
    load_class_folders,
    load_raster_with_label_raster,
    load_raster_with_vector,
    rasterize_vector_shapes,
    relabel,
    with_validation_split,
)
from dinomc_core.errors import DinoMCError

LANDSAT = "landsat_rgb/RGB.byte.tif"
EUROSAT_TIF = "eurosat_ms/ds/images/remote_sensing/otherDatasets/sentinel_2/tif"


@pytest.fixture()
def landsat(shared_data):
    return shared_data / LANDSAT


def _label_raster(path, landsat, values):
    with rasterio.open(landsat) as source:
        profile = {**source.profile, "count": 1, "dtype": "uint8", "nodata": None, "height": values.shape[0], "width": values.shape[1]}
    with rasterio.open(path, "w", **profile) as target:
        target.write(values.astype(np.uint8), 1)
    return path


def _two_blocks(shape=(718, 791)):
    values = np.zeros(shape, np.uint8)
    values[100:200, 300:400] = 1
    values[400:500, 300:400] = 2
    return values


def test_class_folders_of_real_chips(shared_data, tmp_path):
    for name in ("Forest", "River"):
        (tmp_path / name).mkdir()
        for source in sorted((shared_data / EUROSAT_TIF / name).iterdir())[:3]:
            (tmp_path / name / source.name).symlink_to(source)
    chips = load_class_folders(tmp_path)
    assert chips.classes == ["Forest", "River"] and len(chips) == 6
    assert chips.targets() == [(0,)] * 3 + [(1,)] * 3
    assert chips.read(0).shape == (13, 64, 64) and chips.chip_size == 64
    with pytest.raises(DinoMCError, match="no class folders"):
        load_class_folders(tmp_path / "Forest")


def test_label_raster_chips_are_centred_on_labels_and_inside_the_raster(landsat, tmp_path):
    labels = _label_raster(tmp_path / "labels.tif", landsat, _two_blocks())
    chips = load_raster_with_label_raster(landsat, labels, 32, "water,forest")
    assert chips.classes == ["water", "forest"] and chips.band_names == ["red", "green", "blue"]
    # 100 x 100 px blocks, one centre per 16 px cell: 7 x 7 cells each
    assert sorted(set(chips.targets())) == [(0,), (1,)] and len(chips) == 2 * 49
    assert all(chips.read(i).shape == (3, 32, 32) for i in (0, len(chips) - 1))
    edge = _two_blocks()
    edge[:] = 0
    edge[0:3, 0:3] = 1
    edge[-2:, -2:] = 2
    corners = load_raster_with_label_raster(landsat, _label_raster(tmp_path / "edge.tif", landsat, edge), 64)
    assert {(c.window.col_off, c.window.row_off) for c in corners.chips} == {(0, 0), (791 - 64, 718 - 64)}


def test_label_raster_errors(landsat, tmp_path):
    labels = _label_raster(tmp_path / "labels.tif", landsat, _two_blocks())
    with pytest.raises(DinoMCError, match="label 2 outside the class list"):
        load_raster_with_label_raster(landsat, labels, 32, "water")
    with pytest.raises(DinoMCError, match="urban have no samples"):
        load_raster_with_label_raster(landsat, labels, 32, "water,forest,urban")
    with pytest.raises(DinoMCError, match="does not exist"):
        load_raster_with_label_raster(landsat, tmp_path / "none.tif", 32)
    with pytest.raises(DinoMCError, match="raster's grid"):
        load_raster_with_label_raster(landsat, _label_raster(tmp_path / "small.tif", landsat, _two_blocks()[:500]), 32)


def _vector(tmp_path, landsat, name, geometries, classes):
    with rasterio.open(landsat) as source:
        crs, transform = source.crs, source.transform
    world = [g if not isinstance(g, tuple) else Point(transform * g) for g in geometries]
    frame = gpd.GeoDataFrame({"landcover": classes}, geometry=world, crs=crs).to_crs("EPSG:4326")
    path = tmp_path / name
    frame.to_file(path)
    return path


def test_polygons_and_points_in_another_crs(landsat, tmp_path):
    with rasterio.open(landsat) as source:
        left, top = source.transform * (300, 100)
        right, bottom = source.transform * (400, 200)
    polygons = _vector(tmp_path, landsat, "polygons.gpkg", [box(left, bottom, right, top)], ["forest"])
    chips = load_raster_with_vector(landsat, polygons, "landcover", 32)
    assert chips.classes == ["forest"] and 36 <= len(chips) <= 64
    points = _vector(tmp_path, landsat, "points.geojson", [(350.5, 150.5), (500.5, 600.5), (200.5, 300.5)], ["water", "urban", "water"])
    chips = load_raster_with_vector(landsat, points, "landcover", 16)
    assert chips.classes == ["urban", "water"] and sorted(chips.targets()) == [(0,), (1,), (1,)]
    windows = sorted((c.window.col_off, c.window.row_off) for c in chips.chips)
    assert windows == [(192, 292), (342, 142), (492, 592)]


def test_vector_errors(landsat, tmp_path):
    points = _vector(tmp_path, landsat, "points.geojson", [(350.5, 150.5), (500.5, 600.5)], ["water", "lava"])
    with pytest.raises(DinoMCError, match="lava outside the class list"):
        load_raster_with_vector(landsat, points, "landcover", 16, "water,forest")
    with pytest.raises(DinoMCError, match="no field 'class'"):
        load_raster_with_vector(landsat, points, "class", 16)
    with pytest.raises(DinoMCError, match="does not exist"):
        load_raster_with_vector(landsat, tmp_path / "none.gpkg", "landcover", 16)


def test_validation_split_is_per_class_and_fixed(tmp_path):
    chips = ChipSet([Chip(tmp_path / f"{i}.tif", (i % 2,)) for i in range(20)], ["a", "b"], ["1"], False, 8, lambda chip: None)
    first, second = with_validation_split(chips), with_validation_split(chips)
    assert [c.split for c in first.chips] == [c.split for c in second.chips]
    assert sum(c.split == "val" and c.target == (0,) for c in first.chips) == 2
    assert sum(c.split == "val" and c.target == (1,) for c in first.chips) == 2
    assert relabel(first, ["b", "a"]).targets()[:2] == [(1,), (0,)]
    with pytest.raises(DinoMCError, match="outside the model's class list"):
        relabel(first, ["a"])


def test_chip_centres_take_one_labelled_pixel_per_cell_and_class():
    values = np.zeros((8, 8), np.int64)
    values[0:4, 0:4] = 1
    values[3, 3] = 2
    assert chip_centres(values, 4) == [(0, 0, 1), (3, 3, 2)]


def test_palette_gives_common_classes_their_usual_colours_and_others_distinct_ones():
    colours = default_palette(["Water", "built-up", "SeaLake", "Forest", "herbaceous vegetation"]
                              + [f"class {index}" for index in range(10)])
    assert colours[0] == colours[2] == "#2b7bd6" and colours[1] == "#d9534f"
    assert colours[3] != colours[4] and len(set(colours[5:])) == 10
    # words, not letters: a street is a road, not a tree; rice is not ice; a parking lot is not a meadow
    street, rice, parking = default_palette(["street", "rice", "parking"])
    assert street == "#7a7a7a" and rice != "#eef3f7" and parking != "#6fbf4b"


def test_vector_shapes_carry_one_id_per_feature(landsat, tmp_path):
    with rasterio.open(landsat) as source:
        boxes = [box(*(source.transform * (300, 200)), *(source.transform * (400, 100))),
                 box(*(source.transform * (500, 300)), *(source.transform * (540, 260)))]
    polygons = _vector(tmp_path, landsat, "two.gpkg", boxes, ["forest", "forest"])
    labels, shapes, names = rasterize_vector_shapes(landsat, polygons, "landcover", None)
    assert names == ["forest"] and set(np.unique(shapes)) == {0, 1, 2}
    assert (labels > 0).sum() == (shapes > 0).sum() == 100 * 100 + 40 * 40


def test_vector_label_errors_are_sentences(landsat, tmp_path):
    far = gpd.GeoDataFrame({"landcover": ["water"]}, geometry=[box(10, 10, 11, 11)], crs="EPSG:4326")
    far.to_file(tmp_path / "far.gpkg")
    with pytest.raises(DinoMCError, match="none of the 1 features of far.gpkg overlaps the raster"):
        rasterize_vector_shapes(landsat, tmp_path / "far.gpkg", "landcover", None)
    # a local engineering grid has no transformation to a map projection
    local = ('ENGCRS["site grid",EDATUM["site"],CS[Cartesian,2],AXIS["x",east,ORDER[1],LENGTHUNIT["metre",1]],'
             'AXIS["y",north,ORDER[2],LENGTHUNIT["metre",1]]]')
    gpd.GeoDataFrame({"landcover": ["water"]}, geometry=[box(0, 0, 10, 10)], crs=local).to_file(tmp_path / "odd.gpkg")
    with pytest.raises(DinoMCError, match=r"odd.gpkg \(site grid\) cannot be transformed to the raster's CRS"):
        rasterize_vector_shapes(landsat, tmp_path / "odd.gpkg", "landcover", None)


def test_connected_regions_number_each_block():
    labels = np.zeros((20, 20), np.int64)
    labels[2:5, 2:5] = 1
    labels[10:12, 10:15] = 1
    labels[10:12, 15:18] = 2
    regions = connected_regions(labels)
    assert len(np.unique(regions[labels > 0])) == 3 and (regions[labels == 0] == 0).all()

"""open_scene on the real samples (band folders at several resolutions, multi-band GeoTIFFs) and on small rasters
written here in the formats the samples lack (VRT, ENVI, JPEG, PNG with alpha, named bands, broken files)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from rasterio.transform import from_origin
from rasterio.windows import Window

from dinomc_core.data.bands import BIGEARTHNET_BANDS, SENTINEL2_BANDS
from dinomc_core.data.raster import BandFolderScene, RasterScene, open_scene
from dinomc_core.errors import DinoMCError
from tests.data.builders import envi_band_name, write_envi_date

OSCD_IMAGES = "oscd/Onera Satellite Change Detection dataset - Images"
EUROSAT_CHIP = "eurosat_ms/ds/images/remote_sensing/otherDatasets/sentinel_2/tif/Forest/Forest_1010.tif"


@pytest.fixture
def abudhabi(shared_data: Path) -> Path:
    return shared_data / OSCD_IMAGES / "abudhabi"


@pytest.fixture
def bigearthnet_patch(shared_data: Path) -> Path:
    return sorted((shared_data / "bigearthnet_s2").iterdir())[0]


def _write(path: Path, array: np.ndarray, **profile: object) -> Path:
    """Write ``array`` (C, H, W) as a raster with a 10 m UTM grid unless the profile says otherwise."""
    settings = {
        "driver": "GTiff", "count": array.shape[0], "height": array.shape[1], "width": array.shape[2],
        "dtype": array.dtype, "crs": "EPSG:32633", "transform": from_origin(500000, 4000000, 10, 10),
    }
    settings.update(profile)
    with rasterio.open(path, "w", **settings) as target:
        target.write(array)
    return path


def _ramp(count: int, height: int, width: int, dtype: str = "uint16") -> np.ndarray:
    return (np.arange(count * height * width) % 251).reshape(count, height, width).astype(dtype)


def test_oscd_band_folder_is_stacked_in_sentinel2_order_on_the_10m_grid(abudhabi: Path) -> None:
    with open_scene(abudhabi / "imgs_1") as scene:
        assert isinstance(scene, BandFolderScene)
        assert scene.band_names == list(SENTINEL2_BANDS) and scene.names_known
        assert (scene.height, scene.width, scene.dtype) == (799, 785, "uint16")
        assert scene.crs.to_epsg() == 4326 and scene.nodata is None
        assert scene.gsd == pytest.approx(10, abs=0.5)
        stack = scene.read()
    assert stack.shape == (13, 799, 785) and stack.dtype == np.uint16
    with rasterio.open(next((abudhabi / "imgs_1").glob("*_B04.tif"))) as red:
        np.testing.assert_array_equal(stack[3], red.read(1))


def test_coarse_bands_are_interpolated_bilinearly_onto_the_finest_grid(bigearthnet_patch: Path) -> None:
    with open_scene(bigearthnet_patch) as scene:
        assert scene.band_names == list(BIGEARTHNET_BANDS)
        assert (scene.height, scene.width) == (120, 120) and scene.res == (10.0, 10.0)
        coastal = scene.read([0])[0].astype(np.float64)
    with rasterio.open(next(bigearthnet_patch.glob("*_B01.tif"))) as source:
        native = source.read(1).astype(np.float64)
    assert native.shape == (20, 20)
    np.testing.assert_allclose(coastal, _bilinear_upsampling(native, 6), atol=0.51)


def _bilinear_upsampling(coarse: np.ndarray, factor: int) -> np.ndarray:
    """Textbook bilinear interpolation at the centres of the fine pixels (edges clamped), to check GDAL against."""
    centres = (np.arange(coarse.shape[0] * factor) + 0.5) / factor - 0.5
    low = np.clip(np.floor(centres).astype(int), 0, coarse.shape[0] - 1)
    high = np.clip(low + 1, 0, coarse.shape[0] - 1)
    weight = np.clip(centres - low, 0, 1)
    rows = coarse[low] * (1 - weight)[:, None] + coarse[high] * weight[:, None]
    return rows[:, low] * (1 - weight)[None] + rows[:, high] * weight[None]


def test_windows_read_the_same_values_as_the_whole_scene(abudhabi: Path) -> None:
    with open_scene(abudhabi / "imgs_2") as scene:
        assert (scene.height, scene.width) == (795, 782), "date 2 of abudhabi is smaller than date 1"
        whole = scene.read([0, 4, 8])
        corners = [(0, 0, 1, 1), (scene.height - 1, scene.width - 1, 1, 1), (scene.height - 5, 0, 5, 3)]
        for row, col, height, width in corners + [(203, 101, 50, 64), (17, 640, 31, 29)]:
            part = scene.read([0, 4, 8], window=Window(col, row, width, height))
            np.testing.assert_array_equal(part, whole[:, row:row + height, col:col + width])


def test_band_files_are_matched_on_their_suffix_whatever_their_prefix(abudhabi: Path) -> None:
    prefixes = {file.name.rsplit("_", 1)[0] for date in ("imgs_1", "imgs_2") for file in (abudhabi / date).iterdir()}
    assert len(prefixes) == 2
    with open_scene(abudhabi / "imgs_1") as first, open_scene(abudhabi / "imgs_2") as second:
        assert first.band_names == second.band_names


def test_seco_band_names_without_prefix_or_zero(tmp_path: Path) -> None:
    season = tmp_path / "0000001" / "20200401"
    season.mkdir(parents=True)
    _write(season / "B2.tif", _ramp(1, 8, 8))
    _write(season / "B1.tif", _ramp(1, 4, 4), transform=from_origin(500000, 4000000, 20, 20))
    (season / "metadata.json").write_text("{}")
    with open_scene(season) as scene:
        assert scene.band_names == ["B01", "B02"] and (scene.width, scene.height) == (8, 8)


def test_eurosat_chip_has_13_unnamed_bands(shared_data: Path) -> None:
    with open_scene(shared_data / EUROSAT_CHIP) as scene:
        assert isinstance(scene, RasterScene)
        assert scene.band_names == [str(number) for number in range(1, 14)] and not scene.names_known
        assert scene.read().shape == (13, 64, 64)
        assert scene.read_valid_mask().all()


def test_landsat_rgb_names_and_nodata_collar(shared_data: Path) -> None:
    with open_scene(shared_data / "landsat_rgb" / "RGB.byte.tif") as scene:
        assert scene.band_names == ["red", "green", "blue"] and scene.names_known
        assert (scene.dtype, scene.nodata, scene.gsd) == ("uint8", 0.0, pytest.approx(300, abs=0.1))
        pixels = scene.read()
        valid = scene.read_valid_mask()
    np.testing.assert_array_equal(valid, np.all(pixels != 0, axis=0))
    assert 1 - valid.mean() == pytest.approx(0.33, abs=0.01)


def test_boundless_reads_fill_with_nodata_and_mark_the_outside_invalid(shared_data: Path) -> None:
    window = Window(-10, 700, 40, 40)
    with open_scene(shared_data / "landsat_rgb" / "RGB.byte.tif") as scene:
        pixels = scene.read([0], window=window, boundless=True)
        valid = scene.read_valid_mask(window, boundless=True)
        inside = scene.read([0], window=Window(0, 700, 30, 18))
        with pytest.raises(DinoMCError, match="boundless"):
            scene.read(window=window)
    assert pixels.shape == (1, 40, 40) and valid.shape == (40, 40)
    np.testing.assert_array_equal(pixels[:, :18, 10:], inside)
    assert not pixels[:, 18:].any() and not valid[18:].any() and not valid[:, :10].any()


def test_band_folder_boundless_read_matches_the_inside(abudhabi: Path) -> None:
    with open_scene(abudhabi / "imgs_1") as scene:
        edge = scene.read([1, 5], window=Window(scene.width - 20, 0, 40, 30), boundless=True)
        inside = scene.read([1, 5], window=Window(scene.width - 20, 0, 20, 30))
    np.testing.assert_array_equal(edge[:, :, :20], inside)
    assert not edge[:, :, 20:].any()


def test_band_descriptions_become_canonical_names(tmp_path: Path) -> None:
    path = _write(tmp_path / "named.tif", _ramp(4, 6, 6))
    with rasterio.open(path, "r+") as raster:
        raster.descriptions = ("B4", "B3", "B1", "B8a")
    with open_scene(path) as scene:
        assert scene.band_names == ["B04", "B03", "B01", "B8A"] and scene.names_known
        assert scene.band_set.wavelengths == (0.6646, 0.5598, 0.4427, 0.8647)


def test_landsat_band_files_keep_landsat_names_in_band_order(tmp_path: Path) -> None:
    scene_folder = tmp_path / "LC08_L1TP_044034_20200708_20200913_02_T1"
    scene_folder.mkdir()
    for band in (1, 2, 10, 11):
        _write(scene_folder / f"{scene_folder.name}_B{band}.TIF", _ramp(1, 8, 8))
    with open_scene(scene_folder) as scene:
        assert scene.band_names == ["Landsat B1", "Landsat B2", "Landsat B10", "Landsat B11"]
        assert scene.band_set.wavelengths == (None,) * 4, "Sentinel-2 wavelengths are not lent to Landsat bands"


def test_envi_wavelengths_from_the_header(shared_data: Path, tmp_path: Path) -> None:
    path = write_envi_date(tmp_path / "L71119038_03820000317.dat", shared_data / "landsat_rgb" / "RGB.byte.tif")
    with open_scene(path) as scene:
        assert scene.band_names[2] == f"{envi_band_name(3, 'L71119038_03820000317')} (0.660000 Micrometers)"
        assert scene.wavelengths == [0.4825, 0.565, 0.66] and scene.crs.to_epsg() == 32618 and scene.nodata == 0
    header = tmp_path / "L71119038_03820000317.hdr"
    header.write_text(header.read_text().replace("band names", "unused names").replace("Micrometers", "Nanometers")
                      .replace("0.482500, 0.565000, 0.660000", "482.5, 565, 660"))
    with open_scene(path) as scene:  # GDAL names unnamed ENVI bands by their wavelength
        assert scene.band_names == ["482.5 Nanometers", "565 Nanometers", "660 Nanometers"]
        assert scene.wavelengths == pytest.approx([0.4825, 0.565, 0.66])


def test_wavelengths_from_gdal_imagery_metadata_and_an_envi_list(tmp_path: Path) -> None:
    path = _write(tmp_path / "imagery.tif", _ramp(2, 6, 6))
    with rasterio.open(path, "r+") as raster:
        raster.update_tags(1, ns="IMAGERY", CENTRAL_WAVELENGTH_UM="0.865")
    with open_scene(path) as scene:
        assert scene.wavelengths == [0.865, None] and scene.band_set.wavelengths == (0.865, None)
    listed = _write(tmp_path / "listed.tif", _ramp(2, 6, 6))
    with rasterio.open(listed, "r+") as raster:  # what older GDAL exposes for ENVI headers
        raster.update_tags(ns="ENVI", wavelength="{ 560.0, 665.0}", wavelength_units="Nanometers")
    with open_scene(listed) as scene:
        assert scene.wavelengths == pytest.approx([0.56, 0.665])


def test_vrt_and_envi_rasters(tmp_path: Path) -> None:
    source = _write(tmp_path / "source.tif", _ramp(4, 12, 10))
    rasterio.shutil.copy(source, tmp_path / "mosaic.vrt", driver="VRT")
    with rasterio.open(tmp_path / "cube.bin", "w", driver="ENVI", count=2, height=5, width=7, dtype="int16",
                       crs="EPSG:32633", transform=from_origin(0, 0, 30, 30)) as envi:
        envi.write(np.stack([np.full((5, 7), -3, np.int16), np.full((5, 7), 9, np.int16)]))
        envi.descriptions = ("nir", "swir")
    with open_scene(tmp_path / "mosaic.vrt") as vrt:
        np.testing.assert_array_equal(vrt.read(window=Window(2, 3, 4, 4)), _ramp(4, 12, 10)[:, 3:7, 2:6])
    with open_scene(tmp_path / "cube.bin") as cube:
        assert cube.band_names == ["nir", "swir"] and cube.dtype == "int16" and cube.gsd == 30
        assert cube.read([1]).tolist() == [[[9] * 7] * 5]


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_pictures_get_rgb_names_and_alpha_masks_pixels(tmp_path: Path) -> None:
    rgb = _ramp(3, 16, 16, "uint8")
    _write(tmp_path / "photo.jpg", rgb, driver="JPEG", crs=None, transform=None)
    alpha = np.full((1, 16, 16), 255, np.uint8)
    alpha[0, :4] = 0
    _write(tmp_path / "photo.png", np.concatenate([rgb, alpha]), driver="PNG", crs=None, transform=None)
    with open_scene(tmp_path / "photo.jpg") as jpeg:
        assert jpeg.band_names == ["red", "green", "blue"] and jpeg.gsd is None and jpeg.read().shape == (3, 16, 16)
    with open_scene(tmp_path / "photo.png") as png:
        assert png.band_names == ["red", "green", "blue", "alpha"]
        np.testing.assert_array_equal(png.read([0, 1, 2]), rgb)
        valid = png.read_valid_mask(bands=[0, 1, 2])
    assert not valid[:4].any() and valid[4:].all()


def test_missing_and_non_raster_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DinoMCError, match="does not exist"):
        open_scene(tmp_path / "nowhere.tif")
    (tmp_path / "notes.tif").write_text("not an image")
    with pytest.raises(DinoMCError, match="not a raster GDAL can read"):
        open_scene(tmp_path / "notes.tif")
    with pytest.raises(DinoMCError, match="no band files"):
        open_scene(tmp_path)


def test_truncated_files_are_refused_with_their_path(tmp_path: Path, shared_data: Path) -> None:
    header_last = tmp_path / "header_last.tif"
    shutil.copy(shared_data / "landsat_rgb" / "RGB.byte.tif", header_last)
    header_first = tmp_path / "header_first.tif"
    rasterio.shutil.copy(header_last, header_first, driver="COG")
    for path, message in ((header_last, "not a raster"), (header_first, "truncated")):
        os.truncate(path, path.stat().st_size // 2)
        with pytest.raises(DinoMCError, match=f"{message}.*") as caught:
            with open_scene(path) as scene:
                scene.read()
        assert str(path) in str(caught.value)


def test_band_folder_bands_of_another_place_type_or_crs_are_refused_when_read(tmp_path: Path) -> None:
    _write(tmp_path / "x_B02.tif", _ramp(1, 8, 8))
    for profile, message in (
        ({"transform": from_origin(600000, 4000000, 20, 20)}, "B05.*covers"),
        ({"crs": "EPSG:32632", "transform": from_origin(500000, 4000000, 20, 20)}, "B05.*EPSG:32632"),
        ({"dtype": "float32", "transform": from_origin(500000, 4000000, 20, 20)}, "B05.*float32"),
    ):
        _write(tmp_path / "x_B05.tif", _ramp(1, 4, 4, str(profile.get("dtype", "uint16"))), **profile)
        with open_scene(tmp_path) as scene:
            assert scene.read([0]).shape == (1, 8, 8), "the 10 m band alone is fine"
            with pytest.raises(DinoMCError, match=message):
                scene.read()


def test_band_folder_opens_its_10m_band_and_names_a_broken_band_when_read(tmp_path: Path) -> None:
    _write(tmp_path / "x_B02.tif", _ramp(1, 8, 8))
    (tmp_path / "x_B05.tif").write_bytes(b"II*\x00broken")
    with open_scene(tmp_path) as scene:
        assert scene.band_names == ["B02", "B05"] and (scene.width, scene.height) == (8, 8)
        with pytest.raises(DinoMCError, match="x_B05.tif is not a raster"):
            scene.read_valid_mask()


def test_band_folder_without_10m_band_uses_its_largest_band(tmp_path: Path) -> None:
    _write(tmp_path / "x_B01.tif", _ramp(1, 2, 2), transform=from_origin(500000, 4000000, 60, 60))
    _write(tmp_path / "x_B05.tif", _ramp(1, 6, 6), transform=from_origin(500000, 4000000, 20, 20))
    with open_scene(tmp_path) as scene:
        assert (scene.width, scene.height, scene.res) == (6, 6, (20.0, 20.0))
        assert scene.read().shape == (2, 6, 6)


def test_band_folder_with_two_files_for_one_band_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "a_B02.tif", _ramp(1, 8, 8))
    _write(tmp_path / "b_B2.tif", _ramp(1, 8, 8))
    with pytest.raises(DinoMCError, match="two files for band B02"):
        open_scene(tmp_path)


def test_band_indices_are_checked(shared_data: Path) -> None:
    with open_scene(shared_data / "landsat_rgb" / "RGB.byte.tif") as scene:
        with pytest.raises(DinoMCError, match="not among the 3 bands"):
            scene.read([3])

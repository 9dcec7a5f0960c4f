"""build_pretrain_dataset on the real samples (OSCD, BigEarthNet, EuroSAT, Landsat) and on small rasters written here
(position-coded rasters that reveal which window was read, dated files, SeCo seasons, pictures, broken inputs)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from dinomc_core.data.bands import BIGEARTHNET_BANDS, SENTINEL2_BANDS
from dinomc_core.data.normalization import compute_normalization
from dinomc_core.data.pretrain_datasets import MIN_WINDOWS_PER_SCENE, build_pretrain_dataset
from dinomc_core.data.raster import open_scene
from dinomc_core.errors import DinoMCError
from tests.data.builders import envi_band_name, write_envi_date, write_envi_pair, write_small_scene

LANDSAT = "landsat_rgb/RGB.byte.tif"
OSCD_IMAGES = "oscd/Onera Satellite Change Detection dataset - Images"
EUROSAT_TIF = "eurosat_ms/ds/images/remote_sensing/otherDatasets/sentinel_2/tif"


def _write(path: Path, array: np.ndarray, **profile: object) -> Path:
    """Write ``array`` (C, H, W) as a GeoTIFF on a 10 m UTM grid unless the profile says otherwise."""
    settings = {
        "driver": "GTiff", "count": array.shape[0], "height": array.shape[1], "width": array.shape[2],
        "dtype": array.dtype, "crs": "EPSG:32633", "transform": from_origin(500000, 4000000, 10, 10),
    }
    settings.update(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **settings) as target:
        target.write(array)
    return path


def _position_coded(height: int, width: int) -> np.ndarray:
    """Two bands holding each pixel's row and column, so that a window shows where it was cut."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.uint16)
    return np.stack([rows, cols])


def test_random_windows_are_cut_from_the_raster_and_reproducible(tmp_path: Path) -> None:
    _write(tmp_path / "big.tif", _position_coded(600, 500))
    dataset = build_pretrain_dataset(tmp_path, window_size=100, seed=3)
    assert len(dataset) == 30, "one window per window-sized area"
    first = dataset[7]
    assert first.dtype == torch.float32 and first.shape == (2, 100, 100)
    row, col = int(first[0, 0, 0]), int(first[1, 0, 0])
    np.testing.assert_array_equal(first.numpy(), _position_coded(600, 500)[:, row:row + 100, col:col + 100])
    assert torch.equal(dataset[7], first)
    corners = {(int(dataset[index][0, 0, 0]), int(dataset[index][1, 0, 0])) for index in range(len(dataset))}
    assert len(corners) > 25, "items draw different windows"
    dataset.set_epoch(1)
    assert not torch.equal(dataset[7], first), "another epoch draws another window"
    other_seed = build_pretrain_dataset(tmp_path, window_size=100, seed=4)
    assert not torch.equal(other_seed[7], first)


def test_windows_that_are_mostly_nodata_are_skipped(shared_data: Path) -> None:
    dataset = build_pretrain_dataset(shared_data / "landsat_rgb", window_size=128)
    assert dataset.band_names == ["red", "green", "blue"] and dataset.nodata == 0
    assert dataset.scale == pytest.approx([1 / 255] * 3) and dataset.gsd == pytest.approx(300, abs=0.1)
    with open_scene(shared_data / "landsat_rgb" / "RGB.byte.tif") as scene:
        valid = scene.read_valid_mask()
    generator = np.random.default_rng(0)
    corners = generator.integers(0, [valid.shape[0] - 127, valid.shape[1] - 127], size=(500, 2))
    mostly_nodata = np.mean([valid[row:row + 128, col:col + 128].mean() < 0.5 for row, col in corners])
    assert mostly_nodata > 0.05, "a tenth of blind draws fall mostly in the collar"
    fractions = []
    for epoch in range(3):
        dataset.set_epoch(epoch)
        fractions += [float((dataset[index] != 0).all(dim=0).float().mean()) for index in range(len(dataset))]
    assert len(fractions) == 105 and min(fractions) >= 0.5


def test_oscd_root_gives_the_band_folders_and_leaves_previews_and_labels_out(shared_data: Path) -> None:
    dataset = build_pretrain_dataset(shared_data / "oscd", bands="B04,B03,B02,B08")
    assert len(dataset.places) == 20 and all(place.scenes[0].name.startswith("imgs_") for place in dataset.places)
    assert dataset.band_names == ["B04", "B03", "B02", "B08"] and dataset.scale == [1e-4] * 4
    assert dataset.gsd == pytest.approx(10, abs=1)
    item = dataset[0]
    assert item.shape == (4, 256, 256) and float(item.min()) > 0 and float(item.max()) < 2**16


def test_small_chips_come_whole_with_eurosat_band_names(shared_data: Path) -> None:
    dataset = build_pretrain_dataset(shared_data / "eurosat_ms", bands=["B02", "B8A"])
    assert len(dataset) == 80 and dataset.band_names == ["B02", "B8A"] and dataset.names_known
    chip_path = dataset.places[0].scenes[0]
    with open_scene(chip_path) as chip:
        pixels = chip.read()
    np.testing.assert_array_equal(dataset[0].numpy(), pixels[[1, 12]].astype(np.float32))


def test_bigearthnet_patches_are_resampled_to_120_px(shared_data: Path) -> None:
    dataset = build_pretrain_dataset(shared_data / "bigearthnet_s2")
    assert dataset.band_names == list(BIGEARTHNET_BANDS) and len(dataset) == 6
    assert all(dataset[index].shape == (12, 120, 120) for index in range(len(dataset)))


def test_inputs_must_share_the_chosen_bands(shared_data: Path) -> None:
    city = shared_data / OSCD_IMAGES / "paris"
    patch = sorted((shared_data / "bigearthnet_s2").iterdir())[0]
    with pytest.raises(DinoMCError, match=f"{patch.name}.*has bands"):
        build_pretrain_dataset([city, patch])
    mixed = build_pretrain_dataset([patch, city], bands="B02,B03,B04")
    assert len(mixed.places) == 3 and mixed[0].shape == (3, 120, 120)
    with pytest.raises(DinoMCError, match="B02, not found among the 3 bands of .*RGB.byte.tif"):
        build_pretrain_dataset([city, shared_data / "landsat_rgb"], bands="B02")


def test_inputs_must_share_one_data_type(tmp_path: Path) -> None:
    _write(tmp_path / "a.tif", np.zeros((2, 8, 8), np.uint16))
    _write(tmp_path / "b.tif", np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(DinoMCError, match="b.tif stores values of another type"):
        build_pretrain_dataset(tmp_path)


def test_oscd_dates_are_paired_and_cropped_to_their_common_size(shared_data: Path) -> None:
    cities = build_pretrain_dataset(shared_data / OSCD_IMAGES, temporal=True)
    assert len(cities.places) == 10 and all(len(place.scenes) == 2 for place in cities.places)
    dataset = build_pretrain_dataset(shared_data / OSCD_IMAGES / "saclay_e", bands="B02,B03,B04", temporal=True,
                                     window_size=700)
    (saclay,) = dataset.places
    assert [scene.name for scene in saclay.scenes] == ["imgs_1", "imgs_2"]
    assert (saclay.height, saclay.width) == (631, 679)
    before, after = dataset[0]
    assert before.shape == after.shape == (3, 631, 679)
    assert not torch.equal(before, after)


def test_dated_files_and_seco_seasons_form_places(tmp_path: Path) -> None:
    for date in ("20170829", "20180412"):
        _write(tmp_path / "files" / f"site_{date}.tif", np.full((1, 40, 40), int(date[:4]), np.uint16))
        for band, pixel in (("B2", 10), ("B1", 60)):
            size = 240 // pixel
            _write(tmp_path / "seco" / "0000042" / date / f"{band}.tif", np.ones((1, size, size), np.uint16),
                   transform=from_origin(500000, 4000000, pixel, pixel))
    dated = build_pretrain_dataset(tmp_path / "files", temporal=True)
    assert [float(date[0, 0, 0]) for date in dated[0]] == [2017.0, 2018.0]
    seasons = build_pretrain_dataset(tmp_path / "seco", temporal=True)
    assert seasons.band_names == ["B01", "B02"] and [date.shape for date in seasons[0]] == [(2, 24, 24)] * 2


def test_temporal_needs_two_overlapping_dates_per_place(tmp_path: Path, shared_data: Path) -> None:
    with pytest.raises(DinoMCError, match="do not overlap"):
        build_pretrain_dataset(shared_data / "bigearthnet_s2", temporal=True)
    with pytest.raises(DinoMCError, match="RGB.byte.tif has no other date"):
        build_pretrain_dataset(shared_data / "landsat_rgb", temporal=True)
    _write(tmp_path / "x_20170101.tif", np.ones((1, 40, 40), np.uint16))
    _write(tmp_path / "x_20180101.tif", np.ones((1, 20, 40), np.uint16))
    with pytest.raises(DinoMCError, match="one grid"):
        build_pretrain_dataset(tmp_path, temporal=True)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_pictures_and_transform(tmp_path: Path) -> None:
    picture = np.arange(3 * 32 * 32).reshape(3, 32, 32).astype(np.uint8)
    _write(tmp_path / "one.png", picture, driver="PNG", crs=None, transform=None)
    _write(tmp_path / "two.png", picture, driver="PNG", crs=None, transform=None)
    dataset = build_pretrain_dataset(tmp_path, transform=lambda image: image.sum(dim=0))
    assert dataset.band_names == ["red", "green", "blue"] and dataset.gsd is None and len(dataset) == 2
    np.testing.assert_array_equal(dataset[1].numpy(), picture.astype(np.float32).sum(axis=0))


def test_envi_data_is_found_by_its_header_and_side_files_are_left_out(tmp_path: Path) -> None:
    _write(tmp_path / "cube.bin", np.full((2, 9, 9), 7, np.int16), driver="ENVI")
    (tmp_path / "cube.json").write_text("{}")
    (tmp_path / "cube.bin.aux.xml").write_text("<PAMDataset/>")
    dataset = build_pretrain_dataset(tmp_path)
    assert [place.scenes[0].name for place in dataset.places] == ["cube.bin"]
    assert dataset[0].tolist() == np.full((2, 9, 9), 7.0).tolist()


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_alpha_is_a_mask_not_a_band(tmp_path: Path) -> None:
    picture = np.broadcast_to(np.arange(64, dtype=np.uint8), (4, 64, 64)).copy()
    picture[3] = np.where(picture[3] < 40, 0, 255)
    _write(tmp_path / "tile.png", picture, driver="PNG", crs=None, transform=None)
    dataset = build_pretrain_dataset(tmp_path, window_size=32)
    assert dataset.band_names == ["red", "green", "blue"] and len(dataset) == MIN_WINDOWS_PER_SCENE
    for epoch in range(5):
        dataset.set_epoch(epoch)
        items = [dataset[index] for index in range(len(dataset))]
        assert all(item.shape == (3, 32, 32) for item in items)
        assert min(int(item[0, 0, 0]) for item in items) >= 24, "windows at most half transparent"


def test_missing_empty_and_unreadable_inputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DinoMCError, match="does not exist"):
        build_pretrain_dataset(tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("no image here")
    with pytest.raises(DinoMCError, match="holds no rasters"):
        build_pretrain_dataset(tmp_path)
    _write(tmp_path / "good.tif", np.ones((1, 8, 8), np.uint16))
    (tmp_path / "broken.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(DinoMCError, match="broken.tif is not a raster"):
        build_pretrain_dataset(tmp_path)
    with pytest.raises(DinoMCError, match="positive"):
        build_pretrain_dataset(tmp_path / "good.tif", window_size=0)


def test_statistics_of_a_dataset_ignore_its_nodata(shared_data: Path) -> None:
    dataset = build_pretrain_dataset(shared_data / "landsat_rgb", window_size=128)
    normalization = compute_normalization(dataset, dataset.scale, max_samples=10)
    with open_scene(shared_data / "landsat_rgb" / "RGB.byte.tif") as scene:
        pixels, valid = scene.read(), scene.read_valid_mask()
    np.testing.assert_allclose(normalization.mean, pixels[:, valid].mean(axis=1) / 255, rtol=0.3)
    assert min(normalization.mean) > 0.1, "the zeros of the collar are left out"


def test_sentinel2_band_order_is_kept_for_band_folders(shared_data: Path) -> None:
    dataset = build_pretrain_dataset(shared_data / OSCD_IMAGES / "paris" / "imgs_1", window_size=64)
    assert dataset.band_names == list(SENTINEL2_BANDS) and len(dataset.places) == 1


def test_envi_dates_named_by_scene_match_by_wavelength(shared_data: Path, tmp_path: Path) -> None:
    first = write_envi_date(tmp_path / "a.dat", shared_data / LANDSAT)
    second = write_envi_date(tmp_path / "b.dat", shared_data / LANDSAT, date=1, order=(2, 0, 1))  # red, blue, green
    dataset = build_pretrain_dataset([first, second], window_size=300)  # whole scenes, one item each
    assert dataset.band_names[0] == f"{envi_band_name(1, 'L71119038_03820000317')} (0.482500 Micrometers)"
    assert dataset.band_note == "bands of 1 of 2 inputs matched by wavelength (0.482, 0.565, 0.66 µm)"
    assert dataset.band_note in repr(dataset), "the trainer logs the dataset's repr"
    assert dataset.places[1].bands == ((1, 2, 0),)
    with open_scene(second) as scene:
        assert scene.wavelengths == [0.66, 0.4825, 0.565]
        np.testing.assert_array_equal(dataset[1].numpy(), scene.read([1, 2, 0]).astype(np.float32))


def test_envi_dates_by_position_when_the_bands_are_numbers(shared_data: Path, tmp_path: Path) -> None:
    first, second = write_envi_pair(tmp_path, shared_data / LANDSAT)
    for request in ("1,2,3", "1 2 3", ["1", "2", "3"]):
        dataset = build_pretrain_dataset([first, second], bands=request)
        assert dataset.places[1].bands == ((0, 1, 2),) and dataset.band_note == "bands 1, 2, 3 taken by position in every input"
    with pytest.raises(DinoMCError, match="the band list needs band\\(s\\) 4"):
        build_pretrain_dataset([first, second], bands="1,4")


def test_a_single_small_scene_gives_several_windows_no_larger_than_itself(shared_data: Path, tmp_path: Path) -> None:
    scene = write_small_scene(tmp_path / "scene.tif", shared_data / LANDSAT, size=400)
    dataset = build_pretrain_dataset(scene)
    assert len(dataset) == MIN_WINDOWS_PER_SCENE > 400 * 400 / 256**2
    corners = {tuple(dataset[index][:, 0, 0].tolist()) for index in range(len(dataset))}
    assert all(dataset[index].shape == (3, 256, 256) for index in range(len(dataset))) and len(corners) > 4
    assert len(build_pretrain_dataset(scene, window_size=500)) == 1, "a scene within one window comes whole"

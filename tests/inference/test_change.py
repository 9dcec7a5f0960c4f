"""Change maps: supervised and embedding methods, Otsu's threshold, real OSCD dates on different grids."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from dinomc_core.errors import DinoMCError
from dinomc_core.downstream.thresholds import Histogram
from dinomc_core.inference.change import CHANGED, NODATA, UNCHANGED, ChangeOutputs, detect_change_files
from dinomc_core.inference.engine import EngineOptions
from tests.inference.builders import smooth_scene, write_raster
from tests.logs import Log

FP32 = EngineOptions(precision="fp32")
OSCD = "oscd/Onera Satellite Change Detection dataset - Images"


@pytest.fixture()
def dates(tmp_path: Path, rgbn_bands: list[str]) -> tuple[Path, Path]:
    """Two dates: a bright new block appears in the after image; a nodata corner in the before image."""
    before = smooth_scene(120, 140, 4)
    after = before.copy()
    after[:, 40:80, 50:110] = 4000
    before[:, :10, :10] = 0
    return (write_raster(tmp_path / "before.tif", before, rgbn_bands, nodata=0),
            write_raster(tmp_path / "after.tif", after, rgbn_bands, nodata=0))


def test_otsu_splits_two_populations() -> None:
    histogram = Histogram(0.0, 2.0, 1024)
    rng = np.random.default_rng(0)
    histogram.add(np.concatenate([rng.normal(0.2, 0.05, 9000), rng.normal(1.2, 0.1, 1000)]))
    assert 0.5 < histogram.otsu() < 0.9


def test_embedding_change_finds_the_new_block(encoder_file: Path, dates: tuple[Path, Path], tmp_path: Path) -> None:
    outputs = ChangeOutputs(tmp_path / "change.tif", tmp_path / "magnitude.tif", tmp_path / "change.gpkg")
    stats = detect_change_files(encoder_file, "embedding", *dates, outputs, options=FP32)
    with rasterio.open(tmp_path / "change.tif") as change, rasterio.open(tmp_path / "magnitude.tif") as magnitude:
        values, distance = change.read(1), magnitude.read(1)
        assert change.colormap(1)[CHANGED][:3] == (228, 26, 28) and change.nodata == NODATA
    assert (values[:10, :10] == NODATA).all() and np.isnan(distance[:10, :10]).all()
    assert (values[45:75, 55:105] == CHANGED).mean() > 0.6 and (values[100:, :40] == UNCHANGED).mean() > 0.9
    assert stats.changed_pixels == (values == CHANGED).sum() and stats.valid_pixels == (values != NODATA).sum()
    assert stats.changed_hectares == pytest.approx(stats.changed_pixels * 100 / 10_000)
    assert (distance[np.isfinite(distance)] >= -1e-6).all()
    polygons = gpd.read_file(tmp_path / "change.gpkg")
    assert polygons.area_ha.sum() == pytest.approx(stats.changed_hectares) and set(polygons.class_name) == {"changed"}


def test_supervised_change_with_a_given_threshold(change_file: Path, dates: tuple[Path, Path], tmp_path: Path) -> None:
    low = detect_change_files(change_file, "supervised", *dates, ChangeOutputs(tmp_path / "low.tif"), threshold=0.0, options=FP32)
    high = detect_change_files(change_file, "supervised", *dates, ChangeOutputs(tmp_path / "high.tif"), threshold=1.0, options=FP32)
    assert low.changed_pixels == low.valid_pixels and high.changed_pixels == 0 and low.threshold == 0.0


def test_a_model_for_another_task_is_refused(classifier_file: Path, dates: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(DinoMCError, match="classification model"):
        detect_change_files(classifier_file, "supervised", *dates, ChangeOutputs(tmp_path / "c.tif"))
    assert not (tmp_path / "c.tif").exists()


def test_dates_that_do_not_overlap_leave_nothing(encoder_file: Path, dates: tuple[Path, Path], tmp_path: Path, rgbn_bands) -> None:
    elsewhere = write_raster(tmp_path / "elsewhere.tif", smooth_scene(50, 50, 4), rgbn_bands,
                             transform=from_origin(700000, 5400000, 10, 10))
    with pytest.raises(DinoMCError, match="do not overlap"):
        detect_change_files(encoder_file, "embedding", dates[0], elsewhere, ChangeOutputs(tmp_path / "c.tif", tmp_path / "m.tif"))
    assert not (tmp_path / "c.tif").exists() and not (tmp_path / "m.tif").exists()


def test_real_oscd_dates_on_different_grids(s2_encoder_file: Path, shared_data: Path, tmp_path: Path) -> None:
    city = shared_data / OSCD / "saclay_e"
    log = Log()
    stats = detect_change_files(s2_encoder_file, "embedding", city / "imgs_1", city / "imgs_2",
                                ChangeOutputs(tmp_path / "change.tif"), options=EngineOptions(precision="fp32", tile_size=320),
                                progress=log)
    assert any("reprojected onto the before image's grid" in line for line in log.lines)
    with rasterio.open(tmp_path / "change.tif") as change, rasterio.open(next((city / "imgs_1").glob("*_B02.tif"))) as band:
        assert (change.crs, change.transform, change.shape) == (band.crs, band.transform, band.shape)
    assert 0 < stats.changed_percent < 50 and stats.valid_pixels > 0.95 * change.width * change.height

"""band_source: a model file's bands found in a raster by name, by wavelength (ENVI dates named by scene, Sentinel-2
names), or at the positions the user gives; what was matched is said on the progress log. Band moments for matching
one date to another."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dinomc_core.data import open_scene
from dinomc_core.errors import DinoMCError
from dinomc_core.inference.sources import band_moments, band_source
from dinomc_core.models import ModelMetadata
from tests.data.builders import write_envi_date
from tests.inference.builders import write_raster
from tests.logs import Log

LANDSAT = "landsat_rgb/RGB.byte.tif"


def model_for(bands: list[str]) -> ModelMetadata:
    count = len(bands)
    return ModelMetadata(arch="vit_tiny_patch16_224", in_chans=count, feature_dim=192, bands=bands,
                         normalization={"scale": [1 / 255] * count, "mean": [0.2] * count, "std": [0.1] * count})


@pytest.fixture()
def envi_dates(shared_data: Path, tmp_path: Path) -> tuple[Path, Path]:
    first = write_envi_date(tmp_path / "a.dat", shared_data / LANDSAT, size=64)
    second = write_envi_date(tmp_path / "b.dat", shared_data / LANDSAT, date=1, size=64, order=(2, 1, 0))
    return first, second


def test_a_model_pretrained_on_one_date_finds_its_bands_in_the_other_by_wavelength(envi_dates) -> None:
    first, second = envi_dates
    with open_scene(first) as before, open_scene(second) as after:
        model = model_for(before.band_names)
        log = Log()
        assert band_source(before, model, progress=log).bands == [0, 1, 2] and log.lines == []
        assert band_source(after, model, progress=log).bands == [2, 1, 0]
    assert log.lines == ["b.dat: bands matched by wavelength (0.482, 0.565, 0.66 µm)"]


def test_a_sentinel2_model_finds_landsat_bands_by_wavelength(envi_dates) -> None:
    with open_scene(envi_dates[1]) as scene:
        assert band_source(scene, model_for(["B04", "B03", "B02"]), progress=Log()).bands == [0, 1, 2]
        with pytest.raises(DinoMCError, match="needs band\\(s\\) B08, not found among the 3 bands of b.dat"):
            band_source(scene, model_for(["B02", "B08"]))


@pytest.mark.parametrize("bands", ["3,2,1", ["3", "2", "1"], ["3,2", "1"]])
def test_bands_given_by_position_in_either_form(envi_dates, bands) -> None:
    with open_scene(envi_dates[0]) as scene:
        assert band_source(scene, model_for(["x", "y", "z"]), bands).bands == [2, 1, 0]
        with pytest.raises(DinoMCError, match="the model needs 3 bands"):
            band_source(scene, model_for(["x", "y", "z"]), "1,2")


def test_band_moments_skip_nodata_and_sample_large_rasters(tmp_path: Path) -> None:
    rows = np.repeat(np.arange(1100, dtype=np.uint16)[:, None], 900, axis=1) + 1
    data = np.stack([rows, np.full_like(rows, 500)])
    data[:, :50, :] = 0  # nodata strip
    path = write_raster(tmp_path / "large.tif", data, ["B04", "B08"], nodata=0)
    metadata = model_for(["B04", "B08"])
    with open_scene(path) as scene:
        mean, std = band_moments(band_source(scene, metadata))  # in reflectance: raw / 255 here
    assert mean[1] == pytest.approx(500 / 255) and std[1] == pytest.approx(0.0, abs=1e-6)
    valid_rows = np.arange(51, 1101) / 255  # 16 windows of 512 px over 1100 rows: close to the whole raster's
    assert mean[0] == pytest.approx(valid_rows.mean(), rel=0.05) and std[0] == pytest.approx(valid_rows.std(), rel=0.1)

"""Fixtures of the inference tests: tiny model files and a small raster with a nodata corner."""
from __future__ import annotations

from pathlib import Path

import pytest

from dinomc_core.data import SENTINEL2_BANDS
from tests.inference.builders import save_change_model, save_classifier, save_encoder, smooth_scene, write_raster


@pytest.fixture(scope="session")
def rgbn_bands() -> list[str]:
    return ["B02", "B03", "B04", "B08"]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def classifier_file(model_dir: Path, rgbn_bands: list[str]) -> Path:
    return save_classifier(model_dir / "landcover.dinomc", rgbn_bands)


@pytest.fixture(scope="session")
def encoder_file(model_dir: Path, rgbn_bands: list[str]) -> Path:
    return save_encoder(model_dir / "encoder.dinomc", rgbn_bands)


@pytest.fixture(scope="session")
def change_file(model_dir: Path, rgbn_bands: list[str]) -> Path:
    return save_change_model(model_dir / "change.dinomc", rgbn_bands)


@pytest.fixture(scope="session")
def s2_encoder_file(model_dir: Path) -> Path:
    return save_encoder(model_dir / "s2.dinomc", list(SENTINEL2_BANDS))


@pytest.fixture()
def scene_file(tmp_path: Path, rgbn_bands: list[str]) -> Path:
    """A 150 x 170 px, 4-band raster with a nodata corner (value 0)."""
    data = smooth_scene(150, 170, 4)
    data[:, :20, :30] = 0
    return write_raster(tmp_path / "scene.tif", data, rgbn_bands, nodata=0)

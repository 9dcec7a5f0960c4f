"""Fixtures for the QGIS plugin tests: the provider registered in a headless QGIS, and small real model files."""
from __future__ import annotations

import pytest
from qgis.core import QgsApplication

from dinomc_core.models import create_backbone, encoder_tensors, metadata_for_backbone, save_model_file


@pytest.fixture(scope="session")
def dinomc_provider(qgis_app, qgis_processing):
    """The ``dinomc`` provider, registered once (the reference keeps it alive, as QGIS needs)."""
    from dinomc_qgis.provider import DinoMCProvider

    provider = DinoMCProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    yield provider
    QgsApplication.processingRegistry().removeProvider(provider)


@pytest.fixture(scope="session")
def rgb_encoder(tmp_path_factory):
    """A small random-weight ViT encoder for 8-bit RGB, enough to exercise the plugin end to end."""
    path = tmp_path_factory.mktemp("models") / "rgb_encoder.dinomc"
    backbone = create_backbone("vit_tiny_patch16_224", in_chans=3)
    metadata = metadata_for_backbone(
        backbone,
        bands=["red", "green", "blue"],
        normalization={"scale": [1 / 255] * 3, "mean": [0.3] * 3, "std": [0.2] * 3},
        gsd=300.0,
        tile_size=128,
    )
    save_model_file(path, metadata, encoder_tensors(backbone))
    return path


@pytest.fixture(scope="session")
def landsat(shared_data):
    return shared_data / "landsat_rgb" / "RGB.byte.tif"

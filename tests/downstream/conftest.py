"""Small encoder files for the downstream tests (random weights: tests check plumbing and definitions)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from dinomc_core.data.bands import BIGEARTHNET_BANDS, SENTINEL2_BANDS
from dinomc_core.models import create_backbone, encoder_tensors, metadata_for_backbone, save_model_file

REFLECTANCE_MEAN = 0.15
REFLECTANCE_STD = 0.08


@pytest.fixture(scope="session")
def encoder_file(tmp_path_factory) -> Callable[[str, tuple[str, ...]], Path]:
    """``encoder_file(arch, bands)``: a randomly initialised encoder saved as a .dinomc file (cached per session)."""
    folder = tmp_path_factory.mktemp("encoders")
    made: dict[tuple[str, tuple[str, ...]], Path] = {}

    def make(arch: str = "resnet18", bands: tuple[str, ...] = SENTINEL2_BANDS) -> Path:
        key = (arch, tuple(bands))
        if key not in made:
            torch.manual_seed(0)
            backbone = create_backbone(arch, len(bands))
            count = len(bands)
            metadata = metadata_for_backbone(
                backbone, bands=list(bands), gsd=10.0, tile_size=64,
                normalization={"scale": [1e-4] * count, "mean": [REFLECTANCE_MEAN] * count, "std": [REFLECTANCE_STD] * count},
            )
            made[key] = save_model_file(folder / f"{arch}_{count}.dinomc", metadata, encoder_tensors(backbone))
        return made[key]

    return make


@pytest.fixture(scope="session")
def bigearthnet_bands() -> tuple[str, ...]:
    return BIGEARTHNET_BANDS

"""Embedding rasters: one cell per patch on the input's footprint, float16, principal components."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from dinomc_core.errors import DinoMCError
from dinomc_core.downstream.projection import principal_components
from dinomc_core.inference.embed import embed_file
from dinomc_core.inference.engine import EngineOptions

FP32 = EngineOptions(precision="fp32")


def test_full_embeddings_on_the_patch_grid(encoder_file: Path, scene_file: Path, tmp_path: Path) -> None:
    embed_file(encoder_file, scene_file, tmp_path / "emb.tif", options=FP32)
    with rasterio.open(scene_file) as source, rasterio.open(tmp_path / "emb.tif") as embedding:
        assert embedding.count == 192 and embedding.tags(1, ns="IMAGE_STRUCTURE")["NBITS"] == "16"
        assert embedding.shape == (-(-source.height // 16), -(-source.width // 16))
        assert embedding.transform == source.transform * source.transform.scale(16) and embedding.crs == source.crs
        assert embedding.bounds.left == source.bounds.left and embedding.bounds.top == source.bounds.top
        values = embedding.read()
    assert np.isnan(values[:, 0, 0]).all() and np.isfinite(values[:, 5:, 5:]).all()


def test_principal_components(encoder_file: Path, scene_file: Path, tmp_path: Path) -> None:
    embed_file(encoder_file, scene_file, tmp_path / "pca.tif", components=3, options=FP32)
    with rasterio.open(tmp_path / "pca.tif") as dataset:
        assert dataset.count == 3 and dataset.descriptions[0] == "component 1"
        values = dataset.read()[:, 3:, 3:].reshape(3, -1)
    spread = values.std(axis=1)
    assert spread[0] > spread[2] > 0


def test_components_are_the_strongest_axes() -> None:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(500, 4, generator=generator, dtype=torch.float64) * torch.tensor([5.0, 1.0, 0.5, 0.1], dtype=torch.float64)
    projection = principal_components(features, 2)
    assert projection.components.abs().argmax(dim=1).tolist() == [0, 1]


def test_too_many_components_are_refused(encoder_file: Path, scene_file: Path, tmp_path: Path) -> None:
    with pytest.raises(DinoMCError, match="components"):
        embed_file(encoder_file, scene_file, tmp_path / "pca.tif", components=500)
    assert not (tmp_path / "pca.tif").exists()

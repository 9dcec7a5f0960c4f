"""Builders for the inference tests: tiny model files (random weights: tiling, nodata and georeferencing do not
need a trained model) and small rasters. Imported by tests/inference/conftest.py and the CLI tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.transform import from_origin

from dinomc_core.downstream.change_model import ChangeModel
from dinomc_core.downstream.task_model import ChipClassifier, LinearHead, save_task_model
from dinomc_core.models import create_backbone, encoder_tensors, metadata_for_backbone, save_model_file

ARCH = "vit_tiny_patch16_224"
CLASSES = [{"name": "water", "color": "#1f78b4"}, {"name": "forest", "color": "#33a02c"}, {"name": "urban", "color": "#e31a1c"}]


def normalization(count: int) -> dict[str, list[float]]:
    """Sentinel-2-like statistics: reflectance x 10000 around 0.1."""
    return {"scale": [1e-4] * count, "mean": [0.1] * count, "std": [0.05] * count}


def tiny_encoder(bands: list[str], seed: int = 0) -> torch.nn.Module:
    """A ViT-Tiny/16 with random, repeatable weights."""
    torch.manual_seed(seed)
    return create_backbone(ARCH, len(bands)).eval()


def save_encoder(path: Path, bands: list[str]) -> Path:
    """An encoder-only model file."""
    encoder = tiny_encoder(bands)
    metadata = metadata_for_backbone(encoder, bands=list(bands), normalization=normalization(len(bands)), tile_size=64)
    return save_model_file(path, metadata, encoder_tensors(encoder))


def save_classifier(path: Path, bands: list[str], task: str = "classification") -> Path:
    """A classification (or multi-label) model file: encoder and linear head, three classes, 32 px chips."""
    encoder = tiny_encoder(bands)
    head = LinearHead(encoder.feature_dim, len(CLASSES))
    model = ChipClassifier(encoder, head, task == "multilabel", tile_size=32)
    metadata = metadata_for_backbone(
        encoder, bands=list(bands), normalization=normalization(len(bands)), task=task, classes=CLASSES,
        head=model.describe(), tile_size=32,
    )
    return save_task_model(path, model, metadata)


def save_change_model(path: Path, bands: list[str]) -> Path:
    """A change model file: frozen encoder and a small difference U-Net."""
    encoder = tiny_encoder(bands)
    model = ChangeModel(encoder, width=8)
    classes = [{"name": "no change", "color": "#00000000"}, {"name": "change", "color": "#ff0000"}]
    metadata = metadata_for_backbone(
        encoder, bands=list(bands), normalization=normalization(len(bands)), task="change", classes=classes,
        head=model.describe(), tile_size=64,
    )
    return save_task_model(path, model, metadata)


def write_raster(path: Path, data: np.ndarray, bands: list[str] | None = None, nodata: float | None = None,
                 crs: str = "EPSG:32631", transform=from_origin(500000, 5400000, 10, 10)) -> Path:
    """A GeoTIFF of ``data`` (C, H, W) with band descriptions."""
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0], dtype=data.dtype.name,
                   crs=crs, transform=transform, nodata=nodata)
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(data)
        for index, name in enumerate(bands or [], start=1):
            dataset.set_band_description(index, name)
    return path


def smooth_scene(height: int, width: int, count: int, seed: int = 0) -> np.ndarray:
    """uint16 reflectance-like values with structure at several scales (fields, gradients, noise)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([np.sin(rows / (9 + band)) * np.cos(cols / (13 + 2 * band)) for band in range(count)])
    blocks = rng.random((count, height // 16 + 1, width // 16 + 1)).repeat(16, 1).repeat(16, 2)[:, :height, :width]
    return (1000 + 600 * base + 800 * blocks + rng.normal(0, 30, base.shape)).astype(np.uint16)

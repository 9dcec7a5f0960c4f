"""Model inputs from real chips: bands matched by name, normalised, targets, chip feature."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dinomc_core.data.bands import SENTINEL2_BANDS
from dinomc_core.data.eurosat import load_eurosat
from dinomc_core.data.normalization import Normalization
from dinomc_core.downstream.features import (
    ChipStatistics,
    ChipTensors,
    chip_feature,
    extract_features,
    match_bands,
    random_dihedral,
)
from dinomc_core.downstream.runtime import setup_runtime
from dinomc_core.errors import DinoMCError
from dinomc_core.models import load_model


def test_sentinel2_order_is_mapped_onto_eurosat_order(shared_data):
    chips = load_eurosat(shared_data / "eurosat_ms")
    indices = match_bands(chips.band_names, True, SENTINEL2_BANDS)
    assert indices[SENTINEL2_BANDS.index("B8A")] == 12 and indices[SENTINEL2_BANDS.index("B09")] == 8
    with pytest.raises(DinoMCError, match="needs band\\(s\\) B10"):
        match_bands(["B02", "B03"], True, ["B02", "B10"])
    with pytest.raises(DinoMCError, match="3 unnamed bands"):
        match_bands(["1", "2", "3"], False, SENTINEL2_BANDS)


def test_chip_tensors_are_normalised_in_model_band_order(shared_data):
    chips = load_eurosat(shared_data / "eurosat_ms")
    indices = match_bands(chips.band_names, True, SENTINEL2_BANDS)
    normalization = Normalization([1e-4] * 13, [0.1] * 13, [0.05] * 13)
    x, target = ChipTensors(chips, indices, normalization)[0]
    raw = chips.read(0)
    assert x.shape == (13, 64, 64) and x.dtype == torch.float32 and int(target) == 0
    assert float(x[8, 0, 0]) == pytest.approx((raw[12, 0, 0] * 1e-4 - 0.1) / 0.05, rel=1e-5)  # B8A


def test_dihedral_keeps_content_and_features_are_dense_means(encoder_file, shared_data):
    x = torch.arange(16.0).reshape(1, 4, 4)
    assert sorted(random_dihedral(x).flatten().tolist()) == x.flatten().tolist()
    encoder = load_model(encoder_file("resnet18"))
    chips = load_eurosat(shared_data / "eurosat_ms").subset("val")
    dataset = ChipTensors(chips, match_bands(chips.band_names, True, SENTINEL2_BANDS), Normalization.from_dict(encoder.metadata.normalization))
    features, targets = extract_features(encoder, dataset, setup_runtime("cpu"), batch_size=8)
    assert features.shape == (20, 512) and targets.tolist() == sorted(targets.tolist())
    with torch.no_grad():
        assert torch.allclose(chip_feature(encoder, dataset[0][0][None])[0], features[0], atol=1e-5)
        assert torch.allclose(encoder(dataset[0][0][None]), features[:1], atol=1e-4)  # CNN: equals the pooled feature
    assert np.isfinite(features.numpy()).all()


def test_fused_chip_feature_holds_band_statistics_then_each_level(encoder_file, shared_data):
    encoder = load_model(encoder_file("resnet18"))
    chips = load_eurosat(shared_data / "eurosat_ms").subset("val")
    dataset = ChipTensors(chips, match_bands(chips.band_names, True, SENTINEL2_BANDS), Normalization.from_dict(encoder.metadata.normalization))
    statistics = ChipStatistics.for_encoder(encoder, 13, chips.chip_size)
    features, _ = extract_features(encoder, dataset, setup_runtime("cpu"), batch_size=8, statistics=statistics)
    # bands (mean, std, texture), then ResNet-18's levels: 64 (stride 2), 64 (4), 128 (8) with std, 256 (16) and 512
    # (32) without; the encoder's statistics weigh as one group
    assert statistics.widths == [13, 13, 13, 64, 64, 64, 64, 128, 128, 256, 512]
    assert statistics.group_sizes == [13, 13, 13, 1280] and features.shape == (20, statistics.dim)
    x = dataset[0][0]
    assert torch.allclose(features[0, :13], x.mean(dim=(-2, -1)), atol=1e-5)
    assert torch.allclose(features[0, 13:26], x.std(dim=(-2, -1), unbiased=False), atol=1e-5)
    texture = ((x[:, :, 1:] - x[:, :, :-1]).abs().sum(dim=(-2, -1)) + (x[:, 1:] - x[:, :-1]).abs().sum(dim=(-2, -1)))
    assert torch.allclose(features[0, 26:39], texture / 64 ** 2, atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(features[0, -512:], chip_feature(encoder, x[None])[0], atol=1e-4)  # the last level's mean
    assert ChipStatistics.from_dict(statistics.to_dict()) == statistics


def test_chip_heads_of_files_before_the_band_texture_keep_their_feature():
    earlier = ChipStatistics.from_dict({"channels": [13, 512], "strides": [1, 32], "with_std": [True, False]})
    assert not earlier.band_texture and earlier.widths == [13, 13, 512] and earlier.dim == 538
    x = torch.randn(2, 13, 64, 64)
    encoder = type("Pyramid", (), {"forward_pyramid": lambda self, x: [torch.zeros(2, 512, 2, 2)]})()
    assert earlier.of_chips(encoder, x).shape == (2, 538)

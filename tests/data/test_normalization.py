"""Normalization (scale to reflectance, then standardise) and band statistics computed from data."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dinomc_core.data.normalization import MIN_STD, Normalization, compute_normalization
from dinomc_core.data.raster import open_scene
from dinomc_core.errors import DinoMCError

EUROSAT_TIF = "eurosat_ms/ds/images/remote_sensing/otherDatasets/sentinel_2/tif"
EUROSAT_MEAN_DN = [1344, 1101, 1015, 917, 1177, 2006, 2381, 2312, 726, 12, 1848, 1119, 2623]


def test_apply_scales_then_standardises_arrays_and_tensors() -> None:
    normalization = Normalization(scale=[1e-4, 1e-4], mean=[0.1, 0.2], std=[0.05, 0.1])
    raw = np.array([[[1500, 500]], [[2000, 3000]]], dtype=np.uint16)
    expected = np.array([[[1.0, -1.0]], [[0.0, 1.0]]])
    as_array = normalization.apply(raw)
    as_tensor = normalization.apply(torch.from_numpy(raw.astype(np.int32))[None].repeat(4, 1, 1, 1))
    assert as_array.dtype == np.float32 and as_tensor.dtype == torch.float32
    np.testing.assert_allclose(as_array, expected, atol=1e-6)
    assert as_tensor.shape == (4, 2, 1, 2)
    np.testing.assert_allclose(as_tensor[3].numpy(), expected, atol=1e-6)
    assert normalization.apply(torch.zeros(2, 1, 1, dtype=torch.float64)).dtype == torch.float64


def test_apply_refuses_a_wrong_band_count() -> None:
    with pytest.raises(DinoMCError, match="for 2 bands.*shape \\(3, 4, 4\\)"):
        Normalization([1, 1], [0, 0], [1, 1]).apply(np.zeros((3, 4, 4)))


def test_dict_round_trip_and_validation() -> None:
    normalization = Normalization([1 / 255] * 3, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert Normalization.from_dict(normalization.to_dict()) == normalization
    assert normalization.to_dict()["mean"] == [0.485, 0.456, 0.406]
    with pytest.raises(DinoMCError, match="2 scales, 3 means"):
        Normalization.from_dict({"scale": [1, 1], "mean": [0, 0, 0], "std": [1, 1, 1]})
    with pytest.raises(DinoMCError, match="std .* positive"):
        Normalization([1], [0], [0])
    with pytest.raises(DinoMCError, match="scale .* positive"):
        Normalization([0], [0], [1])
    with pytest.raises(DinoMCError, match="finite"):
        Normalization([1], [math.nan], [1])
    with pytest.raises(DinoMCError, match="lacks std"):
        Normalization.from_dict({"scale": [1], "mean": [0]})
    with pytest.raises(DinoMCError, match="numbers only"):
        Normalization.from_dict({"scale": ["a"], "mean": [0], "std": [1]})


def test_statistics_of_the_eurosat_sample_match_the_documented_means(shared_data: Path) -> None:
    chips = []
    for path in sorted((shared_data / EUROSAT_TIF).glob("*/*.tif")):
        with open_scene(path) as scene:
            chips.append(scene.read())
    normalization = compute_normalization(chips, [1e-4] * 13, max_samples=None)
    np.testing.assert_allclose(np.array(normalization.mean) * 1e4, EUROSAT_MEAN_DN, rtol=0.03, atol=1)
    everything = np.stack(chips).astype(np.float64) * 1e-4
    np.testing.assert_allclose(normalization.std, everything.std(axis=(0, 2, 3)), rtol=1e-6)


def test_statistics_ignore_nodata_and_nan_pixels(shared_data: Path) -> None:
    with open_scene(shared_data / "landsat_rgb" / "RGB.byte.tif") as scene:
        pixels, valid = scene.read(), scene.read_valid_mask()
    normalization = compute_normalization([pixels], [1 / 255] * 3, nodata=0)
    np.testing.assert_allclose(normalization.mean, pixels[:, valid].mean(axis=1) / 255, rtol=1e-9)
    with_nan = torch.tensor([[[1.0, math.nan, 3.0]]])
    assert compute_normalization([with_nan], [1.0]).mean == (2.0,)


def test_statistics_use_at_most_max_samples_spread_over_a_dataset() -> None:
    dataset = [np.full((1, 2, 2), value, dtype=np.float32) for value in range(10)]
    assert compute_normalization(dataset, [1.0], max_samples=2).mean == (4.5,)
    assert compute_normalization(iter(dataset), [1.0], max_samples=2).mean == (0.5,)
    assert compute_normalization([[dataset[1], dataset[3]]], [1.0]).mean == (2.0,), "multi-date items count every date"
    assert compute_normalization(dataset[:1], [1.0]).std == (MIN_STD,)


def test_statistics_without_valid_pixels_or_with_wrong_shapes_are_refused() -> None:
    with pytest.raises(DinoMCError, match="no valid pixel"):
        compute_normalization([np.zeros((1, 3, 3))], [1.0], nodata=0)
    with pytest.raises(DinoMCError, match="2 scales"):
        compute_normalization([np.zeros((3, 3, 3))], [1.0, 1.0])

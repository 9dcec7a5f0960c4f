"""Deep change vector analysis: fused features of two dates, robust per-date statistics, rare-change thresholds."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from dinomc_core.inference.change import CHANGED, ChangeOutputs, ThresholdRule, detect_change_files
from dinomc_core.inference.deep_change import tail_weights
from dinomc_core.inference.engine import EngineOptions
from tests.inference.builders import smooth_scene, write_raster
from tests.logs import Log

FP32 = EngineOptions(precision="fp32")


@pytest.fixture()
def brighter_with_a_new_field(tmp_path: Path, rgbn_bands: list[str]) -> tuple[Path, Path]:
    """The after date is 30 % brighter everywhere (another sun, another season) and a 20 x 30 px field changed."""
    before = smooth_scene(160, 160, 4)
    after = (before.astype(np.float32) * 1.3).astype(np.uint16)
    after[:, 60:80, 50:80] = np.array([400, 600, 300, 3500], np.uint16)[:, None, None]
    return (write_raster(tmp_path / "before.tif", before, rgbn_bands),
            write_raster(tmp_path / "after.tif", after, rgbn_bands))


def changed_mask(path: Path) -> np.ndarray:
    with rasterio.open(path) as dataset:
        return dataset.read(1) == CHANGED


@pytest.mark.parametrize("features, false_alarms", [(("bands", "indices", "context"), 0.05), (("bands", "indices"), 0.05),
                                                    (("context",), 0.1)])  # a random encoder is not brightness-invariant
def test_a_rare_change_is_found_despite_a_global_brightening(encoder_file, brighter_with_a_new_field, tmp_path, features,
                                                             false_alarms):
    logged = Log()
    stats = detect_change_files(encoder_file, "embedding", *brighter_with_a_new_field,
                                ChangeOutputs(tmp_path / "change.tif", tmp_path / "magnitude.tif"),
                                options=FP32, progress=logged, features=features)
    weights = next(line for line in logged.lines if line.startswith("feature groups' weights"))
    assert all(group in weights for group in features)  # every group's weight is reported
    changed = changed_mask(tmp_path / "change.tif")
    inside = changed[62:78, 52:78].mean()
    outside = np.delete(changed, np.s_[36:104], axis=0).mean()  # context reaches a ViT patch (16 px) around it
    assert inside > 0.8 and outside < false_alarms, (features, inside, outside)
    assert stats.changed_percent < 15  # the field is 2.3 % of the scene
    with rasterio.open(tmp_path / "magnitude.tif") as magnitude:
        values = magnitude.read(1)
    assert np.median(values) == pytest.approx(1.0, abs=0.35)  # an ordinary pixel is about 1


def test_identical_dates_show_no_change(encoder_file, brighter_with_a_new_field, tmp_path):
    before = brighter_with_a_new_field[0]
    stats = detect_change_files(encoder_file, "embedding", before, before, ChangeOutputs(tmp_path / "change.tif"),
                                options=FP32)
    assert stats.changed_pixels == 0


def test_expected_share_and_otsu_rules(encoder_file, brighter_with_a_new_field, tmp_path):
    share = detect_change_files(encoder_file, "embedding", *brighter_with_a_new_field,
                                ChangeOutputs(tmp_path / "share.tif"), ThresholdRule(share=0.1), options=FP32)
    assert share.changed_percent == pytest.approx(10, abs=0.5)
    otsu = detect_change_files(encoder_file, "embedding", *brighter_with_a_new_field,
                               ChangeOutputs(tmp_path / "otsu.tif"), ThresholdRule(method="otsu"), options=FP32)
    assert otsu.threshold > 0


def test_a_group_with_a_long_tail_of_change_weighs_more_than_a_noise_like_one():
    generator = torch.Generator().manual_seed(0)
    noise_like = 1.0 + 0.1 * torch.randn(10000, generator=generator)
    with_change = 1.0 + 0.1 * torch.randn(10000, generator=generator)
    with_change[:300] += 4.0  # 3 % of the pixels changed
    weights = tail_weights(torch.stack([noise_like, with_change], dim=1))
    assert float(weights.sum()) == pytest.approx(1.0) and weights[1] > 5 * weights[0]
    flat = tail_weights(torch.ones(100, 2))  # no tail anywhere: both still count, equally
    assert torch.allclose(flat, torch.tensor([0.5, 0.5]))


def test_a_lone_changed_pixel_counts_less_than_a_changed_field(encoder_file, tmp_path, rgbn_bands):
    before = smooth_scene(160, 160, 4)
    after = before.copy()
    new_field = np.array([400, 600, 300, 3500], np.uint16)[:, None, None]
    after[:, 60:80, 50:80] = new_field
    after[:, 130:131, 130:131] = new_field  # the same change on one pixel: noise or a misregistered edge
    detect_change_files(encoder_file, "embedding", write_raster(tmp_path / "before.tif", before, rgbn_bands),
                        write_raster(tmp_path / "after.tif", after, rgbn_bands), ChangeOutputs(tmp_path / "change.tif",
                        tmp_path / "magnitude.tif"), options=FP32, features=("bands",))
    with rasterio.open(tmp_path / "magnitude.tif") as magnitude:
        values = magnitude.read(1)
    assert values[130, 130] < 0.5 * values[70, 65]  # smoothed: a pixel keeps a fraction of a patch's magnitude
    assert changed_mask(tmp_path / "change.tif")[65:75, 55:75].all()

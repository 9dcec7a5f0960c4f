"""Whole-set evaluation: chips, tiled change prediction over whole cities, summed counts."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dinomc_core.data.normalization import Normalization
from dinomc_core.data.oscd import CityPair
from dinomc_core.downstream.evaluation import change_metrics, chip_metrics, official_patch_counts, predict_change
from dinomc_core.downstream.runtime import setup_runtime


class DifferenceOfFirstBand(torch.nn.Module):
    """A stand-in change model: logit = 10 * (|after - before| of band 0 - 0.5)."""

    def forward(self, before, after):
        return 10 * ((after - before)[:, :1].abs() - 0.5)


def test_tiled_prediction_covers_every_pixel_and_follows_the_model():
    before = np.zeros((2, 150, 101), np.uint16)
    after = before.copy()
    after[0, 40:60, 70:90] = 1
    probability = predict_change(DifferenceOfFirstBand(), before, after, Normalization([1.0] * 2, [0.0] * 2, [1.0] * 2),
                                 setup_runtime("cpu"), tile=64)
    assert probability.shape == (150, 101)
    assert (probability[40:60, 70:90] > 0.99).all() and (probability[:40] < 0.01).all()


def test_change_metrics_sum_counts_over_cities():
    change = np.zeros((100, 100), bool)
    change[:10, :10] = True
    perfect = CityPair("a", None, None, change)
    empty = CityPair("b", None, None, np.zeros((100, 100), bool))
    predicted = [change.astype(np.float32), np.zeros((100, 100), np.float32)]
    predicted[1][:5, :20] = 1.0  # 100 false positives in the second city
    metrics = change_metrics([perfect, empty], predicted)
    assert metrics["counts"] == {"tp": 100, "fp": 100, "fn": 0, "tn": 19800}
    assert metrics["precision"] == 0.5 and metrics["recall"] == 1.0 and metrics["f1"] == pytest.approx(2 / 3)
    assert metrics["per_city"]["b"]["f1"] == 0.0 and metrics["change_fraction"] == pytest.approx(0.005)
    assert len(metrics["pr_curve"]["precision"]) == 101


def test_official_patches_are_96px_in_batches_of_32():
    counts = official_patch_counts(np.ones((200, 100), bool), np.ones((200, 100), bool))
    assert len(counts) == 1 and counts[0]["tp"] == 20000  # 3 x 2 patches, edges included


def test_chip_metrics_choose_softmax_or_sigmoid():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, -1.0]])
    assert chip_metrics(logits, np.array([0, 1, 1]), ["a", "b"], False)["accuracy"] == pytest.approx(2 / 3)
    multilabel = chip_metrics(logits, np.array([[1, 0], [0, 1], [1, 0]]), ["a", "b"], True)
    assert multilabel["map_macro"] == pytest.approx(1.0)

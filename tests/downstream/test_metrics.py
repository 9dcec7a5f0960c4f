"""Metric definitions: whole-set counts, never batch means (reference section 6.2 item 11)."""
from __future__ import annotations

import numpy as np
import pytest

from dinomc_core.downstream.metrics import (
    average_precision,
    batch_mean_binary_scores,
    binary_counts,
    binary_scores,
    classification_metrics,
    confusion_matrix,
    multilabel_metrics,
    precision_recall_curve,
    selection_score,
)


def test_confusion_matrix_rows_are_true_classes():
    matrix = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_classification_metrics_per_class():
    metrics = classification_metrics(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), ["a", "b", "c"])
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert metrics["per_class"]["b"]["precision"] == 0.5 and metrics["per_class"]["b"]["recall"] == 1.0
    assert metrics["per_class"]["c"]["f1"] == pytest.approx(0.8)
    assert metrics["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)


def test_average_precision_matches_the_step_definition():
    # ranked: 1 (pos), 0.8 (neg), 0.6 (pos), 0.4 (neg): AP = 0.5 * 1 + 0.5 * 2/3
    assert average_precision(np.array([1, 0, 1, 0]), np.array([1.0, 0.8, 0.6, 0.4])) == pytest.approx(5 / 6)
    # tied scores are one threshold: precision 2/4 at recall 1
    assert average_precision(np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.5)
    assert np.isnan(average_precision(np.array([0, 0]), np.array([0.1, 0.2])))


def test_micro_and_macro_map_differ_and_ignore_classes_without_positives():
    targets = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    scores = np.array([[0.9, 0.2, 0.1], [0.3, 0.4, 0.2], [0.6, 0.5, 0.3], [0.1, 0.45, 0.0]])
    metrics = multilabel_metrics(targets, scores, ["a", "b", "c"])
    assert metrics["per_class_ap"]["a"] == pytest.approx(1.0)
    assert metrics["per_class_ap"]["b"] == pytest.approx((1 + 2 / 3) / 2)
    assert metrics["per_class_ap"]["c"] is None and metrics["classes_without_positives"] == ["c"]
    assert metrics["map_macro"] == pytest.approx((1.0 + (1 + 2 / 3) / 2) / 2)
    assert metrics["map_micro"] == pytest.approx(average_precision(targets, scores))
    assert metrics["map_micro"] != pytest.approx(metrics["map_macro"])


def test_batch_mean_f1_is_075_where_global_f1_is_1():
    """Perfect predictions, a quarter of the batches without change: the official batch mean says 0.75."""
    rng = np.random.default_rng(0)
    batches = []
    for index in range(8):
        target = rng.random((4, 16, 16)) < 0.05 if index % 4 else np.zeros((4, 16, 16), bool)
        batches.append((target, target.copy()))
    total = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for target, prediction in batches:
        counts = binary_counts(target, prediction)
        total = {key: total[key] + counts[key] for key in total}
    assert binary_scores(total) == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "iou": 1.0}
    batch_mean = batch_mean_binary_scores([binary_counts(t, p) for t, p in batches])
    assert batch_mean["f1"] == pytest.approx(0.75) and batch_mean["precision"] == pytest.approx(0.75)


def test_binary_scores_from_counts():
    scores = binary_scores({"tp": 6, "fp": 2, "fn": 4, "tn": 88})
    assert scores["precision"] == pytest.approx(0.75) and scores["recall"] == pytest.approx(0.6)
    assert scores["f1"] == pytest.approx(12 / 18) and scores["iou"] == pytest.approx(0.5)


def test_precision_recall_curve_endpoints_and_selection_score():
    curve = precision_recall_curve(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.3, 0.1]), points=11)
    assert curve["recall"][0] == 1.0 and curve["precision"][0] == 0.5
    assert curve["recall"][5] == 0.5 and curve["precision"][5] == 0.5  # threshold 0.5
    assert curve["recall"][-1] == 0.0
    assert selection_score(np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([0, 0]), False) == 0.5

"""Evaluation metrics computed over a whole evaluation set (never averaged over batches).

The official DINO-MC scripts average mAP and F1 over batches (reference section 2.4/2.5); that
definition is kept here as :func:`batch_mean_binary_scores` only so reports can show the difference.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def confusion_matrix(targets: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts with true classes in rows and predicted classes in columns."""
    flat = np.asarray(targets, dtype=np.int64) * num_classes + np.asarray(predictions, dtype=np.int64)
    return np.bincount(flat.ravel(), minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _safe_ratio(numerator: np.ndarray | float, denominator: np.ndarray | float) -> np.ndarray:
    """Ratio that is 0 where the denominator is 0 (no sample, no prediction)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def classification_metrics(targets: np.ndarray, predictions: np.ndarray, class_names: Sequence[str]) -> dict:
    """Accuracy, per-class precision/recall/F1/support, macro F1 and the confusion matrix of a whole set."""
    matrix = confusion_matrix(targets, predictions, len(class_names))
    true_positive = np.diag(matrix)
    precision = _safe_ratio(true_positive, matrix.sum(axis=0))
    recall = _safe_ratio(true_positive, matrix.sum(axis=1))
    f1 = _safe_ratio(2 * precision * recall, precision + recall)
    per_class = {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(class_names, precision, recall, f1, matrix.sum(axis=1))
    }
    return {
        "accuracy": float(true_positive.sum() / max(matrix.sum(), 1)),
        "macro_f1": float(f1.mean()),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "classes": list(class_names),
    }


def average_precision(targets: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall step curve (sklearn's definition); NaN when there is no positive."""
    targets = np.asarray(targets, dtype=bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    positives = targets.sum()
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_targets = scores[order], targets[order]
    # one point per distinct score: ties are decided together
    last_of_each_score = np.r_[np.flatnonzero(np.diff(sorted_scores)), sorted_targets.size - 1]
    true_positives = np.cumsum(sorted_targets)[last_of_each_score]
    predicted = last_of_each_score + 1
    precision = true_positives / predicted
    recall = true_positives / positives
    recall_steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_steps * precision))


def multilabel_metrics(targets: np.ndarray, scores: np.ndarray, class_names: Sequence[str]) -> dict:
    """Micro mAP (all labels pooled), macro mAP (mean over classes that occur) and per-class AP."""
    targets = np.asarray(targets, dtype=bool)
    per_class = [average_precision(targets[:, k], scores[:, k]) for k in range(targets.shape[1])]
    present = [ap for ap in per_class if not np.isnan(ap)]
    return {
        "map_micro": average_precision(targets, scores),
        "map_macro": float(np.mean(present)) if present else float("nan"),
        "per_class_ap": {name: (None if np.isnan(ap) else ap) for name, ap in zip(class_names, per_class)},
        "classes_without_positives": [name for name, ap in zip(class_names, per_class) if np.isnan(ap)],
        "samples": int(targets.shape[0]),
    }


def binary_counts(target: np.ndarray, prediction: np.ndarray) -> dict[str, int]:
    """True/false positives and negatives of the positive (change) class."""
    target = np.asarray(target, dtype=bool)
    prediction = np.asarray(prediction, dtype=bool)
    return {
        "tp": int(np.count_nonzero(target & prediction)),
        "fp": int(np.count_nonzero(~target & prediction)),
        "fn": int(np.count_nonzero(target & ~prediction)),
        "tn": int(np.count_nonzero(~target & ~prediction)),
    }


def add_counts(first: dict[str, int], second: dict[str, int]) -> dict[str, int]:
    """Sum of two sets of binary counts."""
    return {key: first[key] + second[key] for key in ("tp", "fp", "fn", "tn")}


def binary_scores(counts: dict[str, int]) -> dict[str, float]:
    """Precision, recall, F1 and IoU of the positive class from summed counts (0 where undefined)."""
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    return {
        "precision": float(_safe_ratio(tp, tp + fp)),
        "recall": float(_safe_ratio(tp, tp + fn)),
        "f1": float(_safe_ratio(2 * tp, 2 * tp + fp + fn)),
        "iou": float(_safe_ratio(tp, tp + fp + fn)),
    }


def batch_mean_binary_scores(batch_counts: Sequence[dict[str, int]]) -> dict[str, float]:
    """The official code's definition: scores per batch (0 when undefined), averaged over batches."""
    per_batch = [binary_scores(counts) for counts in batch_counts]
    return {key: float(np.mean([scores[key] for scores in per_batch])) for key in ("precision", "recall", "f1", "iou")}


def precision_recall_curve(targets: np.ndarray, scores: np.ndarray, points: int = 101) -> dict[str, list[float]]:
    """Precision and recall at evenly spaced thresholds in [0, 1], for plotting."""
    targets = np.asarray(targets, dtype=bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    thresholds = np.linspace(0.0, 1.0, points)
    histogram_edges = np.r_[thresholds, np.inf]
    positives_at_least = np.cumsum(np.histogram(scores[targets], histogram_edges)[0][::-1])[::-1]
    negatives_at_least = np.cumsum(np.histogram(scores[~targets], histogram_edges)[0][::-1])[::-1]
    precision = _safe_ratio(positives_at_least, positives_at_least + negatives_at_least)
    recall = _safe_ratio(positives_at_least, max(int(targets.sum()), 1))
    return {"threshold": thresholds.tolist(), "precision": precision.tolist(), "recall": recall.tolist()}


def selection_score(logits: np.ndarray, targets: np.ndarray, multilabel: bool) -> float:
    """The number models are selected on: micro mAP for multi-label data, accuracy otherwise."""
    if multilabel:
        return average_precision(targets, logits)
    return float(np.mean(np.argmax(logits, axis=1) == targets))

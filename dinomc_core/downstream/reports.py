"""Run reports: ``metrics.json`` and pictures (training curves, confusion matrix, precision-recall curve)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dinomc_core.atomic import write_json_atomically
from dinomc_core.plotting import pyplot as plt


def json_ready(value):
    """NaN and infinity become null, so ``metrics.json`` is strict JSON."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, content: dict) -> Path:
    """Write ``content`` as indented JSON atomically."""
    return write_json_atomically(path, json_ready(content))


def plot_training_curves(history: list[dict[str, float]], path: Path) -> Path:
    """Losses (left axis) and the validation score (right axis) per epoch; for the linear probe, its cross-validated
    and validation scores per L2 penalty (log axis)."""
    x_key = "epoch" if "epoch" in history[0] else "penalty"
    steps = [entry[x_key] for entry in history]
    figure, loss_axis = plt.subplots(figsize=(6, 4))
    for key in ("train_loss", "val_loss"):
        if key in history[0]:
            loss_axis.plot(steps, [entry[key] for entry in history], label=key.replace("_", " "))
    loss_axis.set_xlabel(x_key)
    loss_axis.set_ylabel("loss")
    if x_key == "penalty":
        loss_axis.set_xscale("log")
    score_axis = loss_axis.twinx()
    for score_key, style in (("val_score", "--"), ("val_f1", "--"), ("cv_score", ":")):
        if score_key in history[0]:
            score_axis.plot(steps, [entry[score_key] for entry in history], color="black", linestyle=style,
                            label=score_key.replace("_", " "))
    score_axis.set_ylabel("score")
    figure.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_confusion_matrix(matrix: list[list[int]], classes: list[str], path: Path) -> Path:
    """Counts with true classes in rows and predicted classes in columns."""
    counts = np.asarray(matrix)
    size = max(4.0, 0.6 * len(classes) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(counts, cmap="Blues")
    axis.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(len(classes)), classes, fontsize=8)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for (row, col), value in np.ndenumerate(counts):
        axis.text(col, row, str(value), ha="center", va="center", fontsize=7,
                  color="white" if value > counts.max() / 2 else "black")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_precision_recall(curve: dict[str, list[float]], path: Path, chosen: dict[str, float] | None = None) -> Path:
    """The change class's precision-recall curve over thresholds, with the operating point when given."""
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot(curve["recall"], curve["precision"], label="change model")
    if chosen is not None:
        axis.scatter([chosen["recall"]], [chosen["precision"]], color="red", zorder=3, label="threshold 0.5")
    axis.set_xlabel("recall")
    axis.set_ylabel("precision")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path

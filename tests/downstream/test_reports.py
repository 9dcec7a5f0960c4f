"""Reports: strict JSON and the three kinds of pictures."""
from __future__ import annotations

import json
import math

from dinomc_core.downstream.reports import plot_confusion_matrix, plot_precision_recall, plot_training_curves, write_json


def test_metrics_json_is_strict(tmp_path):
    write_json(tmp_path / "metrics.json", {"map_macro": math.nan, "per_class": {"a": [1.0, math.inf]}})
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"map_macro": None, "per_class": {"a": [1.0, None]}}


def test_pictures_are_written(tmp_path):
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "val_score": 0.5 + e / 10} for e in (1, 2, 3)]
    paths = [
        plot_training_curves(history, tmp_path / "curves.png"),
        plot_training_curves([{"epoch": 1, "train_loss": 1.0, "val_f1": 0.2}], tmp_path / "change_curves.png"),
        plot_confusion_matrix([[3, 1], [0, 4]], ["water", "forest"], tmp_path / "confusion.png"),
        plot_precision_recall({"precision": [0.1, 0.5, 1.0], "recall": [1.0, 0.6, 0.0]}, tmp_path / "pr.png", {"precision": 0.5, "recall": 0.6}),
    ]
    assert all(path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG" for path in paths)

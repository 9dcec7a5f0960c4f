"""Per-pixel heads: cross-validated selection over folds, refit on all, balanced accuracy."""
from __future__ import annotations

import pytest
import torch

from dinomc_core.data.pixel_samples import NEVER_HELD_OUT
from dinomc_core.downstream.pixel_training import PixelHeadOptions, balanced_accuracy, select_and_fit_head
from dinomc_core.errors import DinoMCError
from tests.downstream.builders import blobs
from tests.logs import Log


def test_auto_keeps_a_head_that_handles_the_ring_and_reports_every_candidate():
    features, targets = blobs(300, 0)
    fold = torch.arange(len(targets)) % 3
    name, head, metrics = select_and_fit_head(features, targets, fold, ["centre", "ring", "far"],
                                              PixelHeadOptions(epochs=40))
    assert set(metrics["heads"]) == {"logistic", "mlp", "knn", "forest"} and name != "logistic"
    assert metrics["folds"] == 3 and sum(map(sum, metrics["confusion_matrix"])) == len(targets)  # every pixel scored
    assert metrics["heads"]["logistic"] < 0.8 < metrics["balanced_accuracy"]
    test_features, test_targets = blobs(200, 1)
    with torch.no_grad():
        assert balanced_accuracy(head(test_features), test_targets, 3) > 0.9


def test_when_heads_tie_on_the_held_out_shapes_auto_keeps_knn():
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[4.0, 0.0], [0.0, 4.0]])  # two classes that any head separates
    targets = torch.arange(2).repeat_interleave(60)
    features = centres[targets] + 0.3 * torch.randn(120, 2, generator=generator)
    log = Log()
    name, _, metrics = select_and_fit_head(features, targets, torch.arange(120) % 3, ["land", "water"],
                                           PixelHeadOptions(epochs=20), log)
    assert metrics["heads"]["knn"] == metrics["heads"]["forest"] == 1.0 and name == "knn"
    assert "knn maps take about 9 times as long as the MLP's" in log.lines[-1]  # the analyst learns the trade


def test_one_head_on_request_and_errors():
    features, targets = blobs(100, 0)
    fold = torch.full((len(targets),), NEVER_HELD_OUT)
    fold[::3] = 0  # one validation fold, the rest always trains (a data set's own split)
    name, _, metrics = select_and_fit_head(features, targets, fold, ["a", "b", "c"], PixelHeadOptions(head="knn"))
    assert name == "knn" and list(metrics["heads"]) == ["knn"] and metrics["folds"] == 1
    assert sum(map(sum, metrics["confusion_matrix"])) == 100
    with pytest.raises(DinoMCError, match="unknown pixel head"):
        select_and_fit_head(features, targets, fold, ["a", "b", "c"], PixelHeadOptions(head="tree"))
    with pytest.raises(DinoMCError, match="no labelled pixel is left for validation"):
        select_and_fit_head(features, targets, torch.full_like(fold, NEVER_HELD_OUT), ["a", "b", "c"],
                            PixelHeadOptions())


def test_balanced_accuracy_is_not_dominated_by_a_large_class():
    logits = torch.tensor([[1.0, 0.0]] * 10)
    targets = torch.tensor([0] * 9 + [1])
    assert balanced_accuracy(logits, targets, 2) == pytest.approx(0.5)

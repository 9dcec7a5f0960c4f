"""Per-pixel heads: cross-validated selection over folds, refit on all, balanced accuracy."""
from __future__ import annotations

import pytest
import torch

from dinomc_core.data.pixel_samples import NEVER_HELD_OUT
from dinomc_core.downstream.pixel_training import PixelHeadOptions, balanced_accuracy, select_and_fit_head
from dinomc_core.errors import DinoMCError


def blobs(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three classes: two linearly separable, the third a ring around the first (needs a non-linear head)."""
    generator = torch.Generator().manual_seed(seed)
    angle = torch.rand(count, generator=generator) * 6.283
    centre = torch.randn(count, 2, generator=generator) * 0.3
    ring = torch.stack([angle.cos(), angle.sin()], 1) * 2.0 + torch.randn(count, 2, generator=generator) * 0.1
    far = torch.randn(count, 2, generator=generator) * 0.3 + torch.tensor([6.0, 0.0])
    return torch.cat([centre, ring, far]), torch.arange(3).repeat_interleave(count)


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


def test_forest_head_reproduces_scikit_learn_and_survives_the_model_file():
    from sklearn.ensemble import RandomForestClassifier

    from dinomc_core.downstream.forest import FOREST_DEPTH, FOREST_TREES, ForestHead, train_forest_head
    from dinomc_core.downstream.task_model import build_head

    features, targets = blobs(200, 0)
    head = train_forest_head(features, targets, 3, seed=0)
    reference = RandomForestClassifier(n_estimators=FOREST_TREES, max_depth=FOREST_DEPTH, random_state=0)
    reference.fit(features.numpy(), targets.numpy())
    test_features, _ = blobs(50, 1)
    with torch.no_grad():
        shares = head(test_features).exp()
    assert torch.allclose(shares, torch.from_numpy(reference.predict_proba(test_features.numpy())).float(), atol=1e-5)
    rebuilt = build_head(head.describe(), multilabel=False)
    rebuilt.load_state_dict(head.state_dict())
    assert isinstance(rebuilt, ForestHead)
    with torch.no_grad():
        assert torch.equal(rebuilt(test_features), head(test_features))

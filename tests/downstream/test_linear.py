"""Linear probe on frozen features: a regularised logistic regression whose penalty is cross-validated."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from dinomc_core.downstream.linear import DEFAULT_PENALTY, PENALTIES, fit_logistic_regression, train_linear_probe


def test_logistic_regression_matches_scikit_learn():
    torch.manual_seed(0)
    features = torch.randn(120, 6, dtype=torch.float64).float()
    labels = (features[:, 0] + 0.5 * features[:, 1] + 0.3 * torch.randn(120) > 0).long() + (features[:, 2] > 1).long()
    penalty = 0.01
    ours = fit_logistic_regression(features, labels, 3, False, penalty)
    reference = LogisticRegression(C=1.0 / (penalty * len(labels)), tol=1e-8, max_iter=5000).fit(features.double().numpy(), labels.numpy())
    with torch.no_grad():
        probabilities = ours(features).softmax(dim=1).numpy()
    assert np.abs(probabilities - reference.predict_proba(features.double().numpy())).max() < 1e-3


def test_penalty_is_chosen_on_training_folds_not_validation_data():
    torch.manual_seed(0)
    centres = torch.randn(3, 16) * 3
    labels = torch.arange(90) % 3
    features = centres[labels] + torch.randn(90, 16) * 2
    head, history = train_linear_probe(features[:60], labels[:60], features[60:], 2 - labels[60:], 3, False)
    assert [entry["penalty"] for entry in history] == list(PENALTIES)
    assert all(entry["val_score"] < 0.5 for entry in history)  # the validation labels are permuted ...
    chosen = max(history, key=lambda entry: (entry["cv_score"], entry["penalty"]))
    assert chosen["cv_score"] > 0.8  # ... yet the penalty comes from the training folds
    refit = fit_logistic_regression(features[:60], labels[:60], 3, False, chosen["penalty"])
    with torch.no_grad():
        assert torch.allclose(head(features), refit(features), atol=1e-5)
        assert (head(features[60:]).argmax(dim=1) == labels[60:]).float().mean() > 0.8


def test_a_larger_penalty_shrinks_the_weights():
    torch.manual_seed(0)
    features, labels = torch.randn(40, 30), torch.arange(40) % 2  # pure noise: the weights only memorise
    norms = [fit_logistic_regression(features, labels, 2, False, penalty).linear.weight.norm() for penalty in (1e-4, 1e-1)]
    assert norms[1] < 0.2 * norms[0]


def test_multilabel_probe_scores_micro_map():
    torch.manual_seed(0)
    features = torch.randn(80, 8)
    targets = torch.stack([features[:, 0] > 0, features[:, 1] > 0], dim=1).float()
    head, history = train_linear_probe(features[:60], targets[:60], features[60:], targets[60:], 2, True)
    assert head(features).shape == (80, 2) and max(entry["val_score"] for entry in history) > 0.9
    assert all(0.0 <= entry["cv_score"] <= 1.0 for entry in history)


def test_a_class_with_one_sample_gets_the_default_penalty_without_cross_validation():
    torch.manual_seed(0)
    features, labels = torch.randn(7, 4), torch.tensor([0, 0, 0, 1, 1, 1, 2])
    head, history = train_linear_probe(features, labels, features, labels, 3, False)
    assert all("cv_score" not in entry for entry in history)
    reference = fit_logistic_regression(features, labels, 3, False, DEFAULT_PENALTY)
    with torch.no_grad():
        assert torch.allclose(head(features), reference(features), atol=1e-5)

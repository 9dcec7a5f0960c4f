"""Linear probe on frozen features: standardised inputs, best validation epoch kept."""
from __future__ import annotations

import torch

from dinomc_core.downstream.linear import train_linear_probe


def test_separable_features_are_learned_and_best_epoch_kept():
    torch.manual_seed(0)
    centres = torch.randn(3, 16) * 5
    labels = torch.arange(90) % 3
    features = centres[labels] + torch.randn(90, 16) + 100.0  # offset: standardisation must cope
    head, history = train_linear_probe(features[:60], labels[:60], features[60:], labels[60:], 3, False, epochs=30, lr=1e-2)
    assert len(history) == 30 and max(entry["val_score"] for entry in history) == 1.0
    assert (head(features[60:]).argmax(dim=1) == labels[60:]).all()


def test_multilabel_probe_scores_micro_map():
    torch.manual_seed(0)
    features = torch.randn(80, 8)
    targets = torch.stack([features[:, 0] > 0, features[:, 1] > 0], dim=1).float()
    head, history = train_linear_probe(features[:60], targets[:60], features[60:], targets[60:], 2, True, epochs=100, lr=5e-2)
    assert head(features).shape == (80, 2) and history[-1]["val_score"] > 0.9

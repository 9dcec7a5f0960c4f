"""DINO's weighted k-NN: votes weighted by exp(cosine similarity / T)."""
from __future__ import annotations

import math

import pytest
import torch

from dinomc_core.downstream.knn import build_knn_head
from dinomc_core.errors import DinoMCError


def test_votes_are_weighted_by_exponential_similarity():
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    head = build_knn_head(bank, torch.tensor([0, 1, 1]), num_classes=2, multilabel=False, k=2, temperature=0.5)
    share = head(torch.tensor([[2.0, 0.0]])).exp()[0]
    near, middle = math.exp(1.0 / 0.5), math.exp(math.sqrt(0.5) / 0.5)  # neighbours: class 0 (cos 1), class 1 (cos 0.707)
    assert share.tolist() == pytest.approx([near / (near + middle), middle / (near + middle)], rel=1e-5)


def test_multilabel_scores_are_weighted_label_shares():
    bank = torch.eye(3)
    targets = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    head = build_knn_head(bank, targets, num_classes=2, multilabel=True, k=3, temperature=1e6)  # equal weights
    assert head(torch.tensor([[1.0, 1.0, 1.0]])).sigmoid()[0].tolist() == pytest.approx([2 / 3, 2 / 3], rel=1e-4)


def test_too_few_samples_is_an_error():
    with pytest.raises(DinoMCError, match="at least 20 training samples"):
        build_knn_head(torch.randn(5, 4), torch.zeros(5, dtype=torch.long), 2, False)

"""Weighted k-NN on frozen chip features, as in DINO (k = 20, T = 0.07), stored as a head with its memory bank."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from dinomc_core.downstream.task_model import KnnHead
from dinomc_core.errors import DinoMCError

DEFAULT_K = 20
DEFAULT_TEMPERATURE = 0.07


def build_knn_head(
    train_features: torch.Tensor,
    train_targets: torch.Tensor,
    num_classes: int,
    multilabel: bool,
    k: int = DEFAULT_K,
    temperature: float = DEFAULT_TEMPERATURE,
) -> KnnHead:
    """A k-NN head whose memory bank is the L2-normalised training features and their (multi-)hot targets."""
    if len(train_features) < k:
        raise DinoMCError(
            f"k-NN with k={k} needs at least {k} training samples, but there are {len(train_features)}; "
            "lower --knn-k or add samples"
        )
    head = KnnHead(len(train_features), train_features.shape[1], num_classes, k, temperature, multilabel)
    head.bank.copy_(F.normalize(train_features.float(), dim=1))
    hot = train_targets.float() if multilabel else F.one_hot(train_targets, num_classes).float()
    head.bank_targets.copy_(hot)
    return head.eval()

"""Probes on frozen features (a linear layer, or a small MLP), the epoch kept being the best on validation data."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from dinomc_core.downstream.metrics import selection_score
from dinomc_core.downstream.task_model import LinearHead


def task_loss(logits: torch.Tensor, targets: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Binary cross-entropy per class for multi-label data, cross-entropy otherwise."""
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, targets.float())
    return F.cross_entropy(logits, targets)


def train_linear_probe(
    train_features: torch.Tensor,
    train_targets: torch.Tensor,
    val_features: torch.Tensor,
    val_targets: torch.Tensor,
    num_classes: int,
    multilabel: bool,
    **training: float,
) -> tuple[LinearHead, list[dict[str, float]]]:
    """A linear head trained by :func:`train_probe` (``training``: its epochs, lr, weight_decay, batch_size, seed)."""
    torch.manual_seed(int(training.get("seed", 0)))
    head = LinearHead(train_features.shape[1], num_classes)
    return train_probe(head, train_features, train_targets, val_features, val_targets, multilabel, **training)


def train_probe(
    head: torch.nn.Module,
    train_features: torch.Tensor,
    train_targets: torch.Tensor,
    val_features: torch.Tensor,
    val_targets: torch.Tensor,
    multilabel: bool,
    epochs: int = 100,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    batch_size: int = 64,
    seed: int = 0,
) -> tuple[torch.nn.Module, list[dict[str, float]]]:
    """Train a head with ``fit_standardisation`` (linear or MLP) with AdamW and a cosine schedule; return it at its
    best validation epoch, and the history."""
    generator = torch.Generator().manual_seed(seed)
    head.fit_standardisation(train_features)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    history: list[dict[str, float]] = []
    best_score, best_state = -1.0, copy.deepcopy(head.state_dict())
    for epoch in range(1, epochs + 1):
        head.train()
        order = torch.randperm(len(train_features), generator=generator)
        total = 0.0
        for batch in order.split(batch_size):
            loss = task_loss(head(train_features[batch]), train_targets[batch], multilabel)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        schedule.step()
        head.eval()
        with torch.no_grad():
            val_logits = head(val_features)
            val_loss = float(task_loss(val_logits, val_targets, multilabel))
        score = selection_score(val_logits.numpy(), val_targets.numpy(), multilabel)
        history.append(
            {"epoch": epoch, "train_loss": total / len(train_features), "val_loss": val_loss, "val_score": score}
        )
        if score > best_score:
            best_score, best_state = score, copy.deepcopy(head.state_dict())
    head.load_state_dict(best_state)
    return head.eval(), history

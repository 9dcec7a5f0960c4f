"""Probes on frozen features: a regularised logistic regression (penalty chosen by cross-validation on the training
features), and a trainer for small heads (MLPs) that keeps the epoch best on validation data."""
from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from dinomc_core.downstream.metrics import selection_score
from dinomc_core.downstream.task_model import LinearHead


def task_loss(logits: torch.Tensor, targets: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Binary cross-entropy per class for multi-label data, cross-entropy otherwise."""
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, targets.float())
    return F.cross_entropy(logits, targets)


PENALTIES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
"""L2 penalties on the weights (per sample) the linear probe chooses from, by cross-validation on its training data."""

PENALTY_FOLDS = 5

DEFAULT_PENALTY = 1e-2
"""The penalty when the training data is too small to cross-validate one (a class with a single sample)."""


def fit_logistic_regression(features: torch.Tensor, targets: torch.Tensor, num_classes: int, multilabel: bool,
                            penalty: float, max_iter: int = 300) -> LinearHead:
    """A linear head minimising the mean cross-entropy plus ``penalty`` / 2 x the squared weights (not the bias), by
    full-batch L-BFGS: a deterministic, regularised logistic regression (per class for multi-label data)."""
    head = LinearHead(features.shape[1], num_classes)
    nn.init.zeros_(head.linear.weight)
    nn.init.zeros_(head.linear.bias)
    optimizer = torch.optim.LBFGS(head.linear.parameters(), max_iter=max_iter, history_size=20,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-6, tolerance_change=1e-9)

    def objective() -> torch.Tensor:
        optimizer.zero_grad()
        loss = task_loss(head.linear(features), targets, multilabel) + 0.5 * penalty * head.linear.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(objective)
    return head.eval()


def stratified_folds(targets: torch.Tensor, multilabel: bool, folds: int, seed: int) -> torch.Tensor:
    """The fold of every sample; single-label classes are dealt to the folds in turn, so each fold sees each class."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(targets), generator=generator)
    if not multilabel:
        order = order[torch.sort(targets[order], stable=True).indices]
    assignment = torch.empty(len(targets), dtype=torch.long)
    assignment[order] = torch.arange(len(targets)) % folds
    return assignment


def out_of_fold_logits(fit: Callable[[torch.Tensor, torch.Tensor], nn.Module], features: torch.Tensor,
                       targets: torch.Tensor, assignment: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Logits of every sample from the head ``fit`` trains without the sample's fold (``assignment``: the fold of
    each sample, a negative one for samples that always train, whose rows stay 0)."""
    logits = torch.zeros(len(targets), num_classes)
    for fold in range(int(assignment.max()) + 1):
        held_out = assignment == fold
        if bool(held_out.any()):
            head = fit(features[~held_out], targets[~held_out]).eval()
            with torch.no_grad():
                logits[held_out] = head(features[held_out]).float()
    return logits


def out_of_fold_score(fit: Callable[[torch.Tensor, torch.Tensor], nn.Module], features: torch.Tensor,
                      targets: torch.Tensor, num_classes: int, multilabel: bool, folds: int, seed: int) -> float:
    """The selection score (accuracy, or micro mAP) of the head ``fit`` trains, on held-out stratified folds pooled
    over the folds."""
    logits = out_of_fold_logits(fit, features, targets, stratified_folds(targets, multilabel, folds, seed), num_classes)
    return selection_score(logits.numpy(), targets.numpy(), multilabel)


def cross_validated_score(features: torch.Tensor, targets: torch.Tensor, num_classes: int, multilabel: bool,
                          penalty: float, folds: int, seed: int) -> float:
    """The out-of-fold score of a logistic regression with L2 ``penalty``."""
    return out_of_fold_score(
        lambda train_x, train_y: fit_logistic_regression(train_x, train_y, num_classes, multilabel, penalty),
        features, targets, num_classes, multilabel, folds, seed,
    )


def train_linear_probe(
    train_features: torch.Tensor,
    train_targets: torch.Tensor,
    val_features: torch.Tensor,
    val_targets: torch.Tensor,
    num_classes: int,
    multilabel: bool,
    seed: int = 0,
) -> tuple[LinearHead, list[dict[str, float]]]:
    """A regularised logistic regression on scaled features (``FeatureScaler``: the probe does not standardise, so
    the groups' weights hold). Its penalty is chosen by cross-validation on the training features alone (with few
    labels the unregularised fit memorises them); then it is refitted on all of them. The history has, per
    penalty, the cross-validated score and the validation data's, for the report."""
    folds = penalty_fold_count(train_targets, multilabel)
    heads, history = {}, []
    for penalty in PENALTIES:
        heads[penalty] = fit_logistic_regression(train_features, train_targets, num_classes, multilabel, penalty)
        with torch.no_grad():
            entry = {"penalty": penalty, "val_score": selection_score(heads[penalty](val_features).numpy(),
                                                                       val_targets.numpy(), multilabel)}
        if folds >= 2:
            entry["cv_score"] = cross_validated_score(train_features, train_targets, num_classes, multilabel, penalty,
                                                      folds, seed)
        history.append(entry)
    if folds < 2:
        return fit_logistic_regression(train_features, train_targets, num_classes, multilabel, DEFAULT_PENALTY), history
    chosen = max(history, key=lambda entry: (entry["cv_score"], entry["penalty"]))["penalty"]
    return heads[chosen], history


def penalty_fold_count(targets: torch.Tensor, multilabel: bool) -> int:
    """Folds for choosing the penalty: at most 5, and for single-label data no more than the rarest class has
    samples, so that every fold can hold each class."""
    if multilabel:
        return min(PENALTY_FOLDS, len(targets))
    counts = torch.bincount(targets)
    return min(PENALTY_FOLDS, int(counts[counts > 0].min()))


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

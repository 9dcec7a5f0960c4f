"""Full fine-tuning of encoder and linear head on chips; the epoch kept is the best on validation data.

The head's feature standardisation stays the identity here: statistics of the starting encoder in eval mode would
not describe the features it produces in train mode (batch norm), let alone after it has moved.
"""
from __future__ import annotations

import copy

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from dinomc_core.downstream.evaluation import predict_chips
from dinomc_core.downstream.linear import task_loss
from dinomc_core.downstream.metrics import selection_score
from dinomc_core.downstream.runtime import Runtime
from dinomc_core.downstream.task_model import ChipClassifier
from dinomc_core.progress import Progress, SilentProgress, check_cancelled


def finetune_classifier(
    model: ChipClassifier,
    train_augmented: Dataset,
    val_set: Dataset,
    runtime: Runtime,
    epochs: int = 30,
    lr: float = 1e-4,
    head_lr_factor: float = 10.0,
    weight_decay: float = 0.05,
    batch_size: int = 32,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[dict[str, float]]:
    """Train every weight with AdamW and a cosine schedule; ``model`` ends with the best validation epoch's weights."""
    progress = progress or SilentProgress()
    torch.manual_seed(seed)
    model.to(runtime.device)
    trainer = runtime.wrap(model)
    sampler = DistributedSampler(train_augmented, seed=seed) if runtime.distributed else None
    loader = DataLoader(train_augmented, batch_size=batch_size, shuffle=sampler is None, sampler=sampler,
                        drop_last=len(train_augmented) > batch_size)
    groups = [{"params": model.encoder.parameters(), "lr": lr},
              {"params": model.head.parameters(), "lr": lr * head_lr_factor}]
    optimizer = torch.optim.AdamW(groups, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    scaler = runtime.grad_scaler()
    history: list[dict[str, float]] = []
    best_score, best_state = -1.0, copy.deepcopy(model.state_dict())
    progress.set_total(epochs, "fine-tuning")
    for epoch in range(1, epochs + 1):
        if sampler is not None:
            sampler.set_epoch(epoch)
        trainer.train()
        total, seen = 0.0, 0
        for x, target in loader:
            check_cancelled(progress)
            x, target = x.to(runtime.device), target.to(runtime.device)
            with runtime.autocast():
                loss = task_loss(trainer(x).float(), target, model.multilabel)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total, seen = total + loss.item() * len(x), seen + len(x)
        schedule.step()
        if runtime.is_main:
            logits, targets = predict_chips(model, val_set, runtime)
            val_loss = float(task_loss(torch.from_numpy(logits), torch.from_numpy(targets), model.multilabel))
            score = selection_score(logits, targets, model.multilabel)
            history.append(
                {"epoch": epoch, "train_loss": total / max(seen, 1), "val_loss": val_loss, "val_score": score}
            )
            progress.log(f"epoch {epoch}: train loss {total / max(seen, 1):.4f}, validation {score:.4f}")
            if score > best_score:
                best_score, best_state = score, copy.deepcopy(model.state_dict())
        progress.advance()
    model.load_state_dict(best_state)
    return history

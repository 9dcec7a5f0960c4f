"""DINO's optimisation details: parameter groups, per-tensor gradient clipping, last-layer freeze and the EMA teacher."""
from __future__ import annotations

import torch
from torch import nn

LAST_LAYER_NAME = "last_layer"


def scaled_learning_rate(lr: float, batch_size_per_process: int, world_size: int) -> float:
    """DINO's linear scaling rule: the peak rate is ``lr`` for a total batch of 256."""
    return lr * batch_size_per_process * world_size / 256.0


def parameter_groups(model: nn.Module) -> list[dict]:
    """Trainable parameters in two groups: weights (decayed), then biases and every 1-D tensor (never decayed).

    Frozen parameters (the weight-norm scale of a normalised last layer) are left out.
    """
    decayed: list[nn.Parameter] = []
    not_decayed: list[nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        if name.endswith(".bias") or parameter.ndim == 1:
            not_decayed.append(parameter)
        else:
            decayed.append(parameter)
    return [{"params": decayed}, {"params": not_decayed, "weight_decay": 0.0}]


def apply_schedules(optimizer: torch.optim.Optimizer, learning_rate: float, weight_decay: float) -> None:
    """Set this iteration's rate on every group and its weight decay on the decayed group (the first) only."""
    for index, group in enumerate(optimizer.param_groups):
        group["lr"] = learning_rate
        if index == 0:
            group["weight_decay"] = weight_decay


@torch.no_grad()
def clip_gradients(model: nn.Module, clip: float) -> None:
    """Clip each parameter tensor's gradient to norm ``clip`` on its own (DINO's rule, not a global-norm clip)."""
    gradients = [p.grad for p in model.parameters() if p.grad is not None]
    if not gradients:
        return
    norms = torch._foreach_norm(gradients)
    coefficients = [torch.clamp(clip / (norm + 1e-6), max=1.0) for norm in norms]
    torch._foreach_mul_(gradients, coefficients)


def cancel_last_layer_gradients(model: nn.Module, epoch: int, freeze_last_layer_epochs: int) -> None:
    """Drop the head's last-layer gradients during the first epochs, which DINO found to stabilise training."""
    if epoch >= freeze_last_layer_epochs:
        return
    for name, parameter in model.named_parameters():
        if LAST_LAYER_NAME in name:
            parameter.grad = None


@torch.no_grad()
def update_teacher(student: nn.Module, teacher: nn.Module, momentum: float) -> None:
    """EMA of the parameters, ``teacher = m * teacher + (1 - m) * student``; buffers (BatchNorm statistics) are not averaged."""
    teacher_parameters = list(teacher.parameters())
    student_parameters = [p.detach() for p in student.parameters()]
    torch._foreach_mul_(teacher_parameters, momentum)
    torch._foreach_add_(teacher_parameters, student_parameters, alpha=1.0 - momentum)

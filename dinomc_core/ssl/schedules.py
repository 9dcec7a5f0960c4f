"""Per-iteration and per-epoch schedules of DINO, reproduced value for value from the reference code.

DINO indexes its learning rate, weight decay and teacher momentum schedules by global iteration
(``iterations_per_epoch * epoch + step``) and its teacher temperature by epoch.
"""
from __future__ import annotations

import numpy as np


def cosine_scheduler(
    base_value: float,
    final_value: float,
    epochs: int,
    iterations_per_epoch: int,
    warmup_epochs: int = 0,
    start_warmup_value: float = 0.0,
) -> np.ndarray:
    """One value per iteration: a linear warm-up to ``base_value``, then a cosine decay towards ``final_value``.

    As in DINO, the warm-up includes its end point, so ``base_value`` appears twice, and the last value stays
    slightly above ``final_value``.
    """
    warmup_iterations = warmup_epochs * iterations_per_epoch
    warmup = np.linspace(start_warmup_value, base_value, warmup_iterations)
    iterations = np.arange(epochs * iterations_per_epoch - warmup_iterations)
    cosine = final_value + 0.5 * (base_value - final_value) * (1 + np.cos(np.pi * iterations / len(iterations)))
    schedule = np.concatenate((warmup, cosine))
    assert len(schedule) == epochs * iterations_per_epoch
    return schedule


def teacher_temperature_schedule(
    warmup_temperature: float, temperature: float, warmup_epochs: int, epochs: int
) -> np.ndarray:
    """One teacher temperature per epoch: linear from ``warmup_temperature`` over ``warmup_epochs``, then constant.

    A warm-up longer than the run is cut at the run's end.
    """
    warmup = np.linspace(warmup_temperature, temperature, warmup_epochs)
    constant = np.full(max(epochs - warmup_epochs, 0), temperature)
    return np.concatenate((warmup, constant))[:epochs]


def effective_warmup_epochs(requested: int, epochs: int) -> int:
    """The learning-rate warm-up, limited to half the run so that a short run still reaches its peak rate.

    DINO's 10 warm-up epochs assume runs of 100 epochs or more; a 3-epoch run would otherwise spend all of its
    time warming up (and DINO's scheduler fails outright when the warm-up is longer than the run).
    """
    return min(requested, epochs // 2)

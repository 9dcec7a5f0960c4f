"""Schedules against the values measured on the official code (reference §6.2, items 1 and 2)."""
from __future__ import annotations

import pytest

from dinomc_core.ssl.schedules import cosine_scheduler, effective_warmup_epochs, teacher_temperature_schedule


def test_learning_rate_schedule_matches_the_reference() -> None:
    schedule = cosine_scheduler(5e-4 * 32 / 256, 1e-6, epochs=100, iterations_per_epoch=10, warmup_epochs=10)
    assert len(schedule) == 1000
    expected = {0: 0.0, 1: 6.313131e-7, 50: 3.156566e-5, 99: 6.25e-5, 100: 6.25e-5, 101: 6.249981e-5,
                500: 3.708968e-5, 999: 1.000187e-6}
    for iteration, value in expected.items():
        assert schedule[iteration] == pytest.approx(value, rel=1e-6, abs=1e-12)


def test_weight_decay_and_momentum_schedules_match_the_reference() -> None:
    weight_decay = cosine_scheduler(0.04, 0.4, 100, 10)
    assert [weight_decay[i] for i in (0, 1, 500, 999)] == pytest.approx([0.04, 0.0400008883, 0.22, 0.3999991117])
    momentum = cosine_scheduler(0.996, 1.0, 100, 10)
    assert [momentum[i] for i in (0, 500, 999)] == pytest.approx([0.996, 0.998, 0.9999999901], abs=1e-10)


def test_teacher_temperature_warms_up_then_stays() -> None:
    schedule = teacher_temperature_schedule(0.04, 0.07, warmup_epochs=30, epochs=100)
    assert len(schedule) == 100
    assert [schedule[i] for i in (0, 1, 29, 30)] == pytest.approx([0.04, 0.0410344828, 0.07, 0.07])
    assert set(teacher_temperature_schedule(0.04, 0.04, 0, 10)) == {0.04}
    assert len(teacher_temperature_schedule(0.04, 0.07, 30, 5)) == 5


def test_warmup_is_limited_to_half_a_short_run() -> None:
    assert effective_warmup_epochs(10, 300) == 10
    assert effective_warmup_epochs(10, 3) == 1
    assert effective_warmup_epochs(10, 1) == 0
    short = cosine_scheduler(1.0, 0.0, 3, 4, effective_warmup_epochs(10, 3))
    assert short.max() == pytest.approx(1.0)

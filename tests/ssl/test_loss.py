"""DINOLoss against the closed form and the random-logit table measured on the official code (reference §6.2)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.distributed as dist

from dinomc_core.ssl.loss import DINOLoss


def make_loss(out_dim: int, global_crops: int, local_crops: int) -> DINOLoss:
    return DINOLoss(out_dim, global_crops + local_crops, global_crops, 0.04, 0.04, 0, epochs=10)


def test_equal_logits_give_log_of_the_output_dimension() -> None:
    loss = make_loss(65536, 2, 6)
    value = loss(torch.zeros(8 * 2, 65536), torch.zeros(2 * 2, 65536), epoch=0)
    assert value.item() == pytest.approx(math.log(65536), abs=1e-5)
    assert torch.count_nonzero(loss.center) == 0


@pytest.mark.parametrize(
    ("global_crops", "local_crops", "first", "second", "pairs"),
    [(2, 6, 20.21906853, 20.12188721, 14), (3, 6, 18.50346184, 18.43450928, 24), (2, 0, 25.70487213, 23.32218933, 2)],
)
def test_random_logits_match_the_reference_table(global_crops, local_crops, first, second, pairs) -> None:
    torch.manual_seed(0)
    batch, out_dim = 4, 16
    student = torch.randn((global_crops + local_crops) * batch, out_dim)
    teacher = torch.randn(global_crops * batch, out_dim)
    loss = make_loss(out_dim, global_crops, local_crops)
    assert loss.pairs_number == pairs
    assert loss(student, teacher, 0).item() == pytest.approx(first, abs=2e-6)
    if (global_crops, local_crops) == (2, 6):
        expected_center = [-0.0130160, -0.0238920, -0.0281710, -0.0371334]
        assert loss.center[0, :4].tolist() == pytest.approx(expected_center, abs=1e-6)
    assert loss(student, teacher, 0).item() == pytest.approx(second, abs=2e-6)


def test_the_centre_is_all_reduced_under_a_process_group(tmp_path) -> None:
    torch.manual_seed(1)
    student, teacher = torch.randn(16, 32), torch.randn(8, 32)
    alone = make_loss(32, 2, 2)
    expected = alone(student, teacher, 0)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        grouped = make_loss(32, 2, 2)
        assert grouped(student, teacher, 0).item() == pytest.approx(expected.item())
        assert torch.allclose(grouped.center, alone.center)
    finally:
        dist.destroy_process_group()


def test_collapse_indicators_read_uniform_and_one_hot_targets() -> None:
    loss = make_loss(64, 2, 0)
    uniform = loss.collapse_indicators(torch.zeros(8, 64), epoch=0)
    assert uniform == pytest.approx({"teacher_entropy": 1.0, "teacher_marginal_entropy": 1.0})
    one_dimension = torch.zeros(8, 64)
    one_dimension[:, 3] = 1.0
    collapsed = loss.collapse_indicators(one_dimension, epoch=0)
    assert collapsed["teacher_entropy"] < 0.01 and collapsed["teacher_marginal_entropy"] < 0.01

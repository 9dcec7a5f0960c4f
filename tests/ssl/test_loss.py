"""DINOLoss against the closed form and the random-logit table measured on the official code (reference §6.2)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.distributed as dist

from dinomc_core.ssl.loss import DINOLoss, sinkhorn_knopp


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


def test_sinkhorn_targets_are_distributions_that_share_the_prototypes_equally() -> None:
    torch.manual_seed(2)
    logits = torch.randn(32, 8) * 30 + torch.arange(8.0) * 50  # every row prefers the last prototype
    targets = sinkhorn_knopp(logits, iterations=50)
    assert torch.allclose(targets.sum(dim=1), torch.ones(32), atol=1e-5)
    assert torch.allclose(targets.sum(dim=0), torch.full((8,), 32 / 8), atol=0.5)  # softmax: 0 to 32
    softmax_peaks = torch.softmax(logits, dim=1).argmax(dim=1)
    assert softmax_peaks.unique().numel() < 3 <= targets.argmax(dim=1).unique().numel()


def test_sinkhorn_centring_keeps_a_collapsed_teacher_from_a_uniform_marginal() -> None:
    loss = DINOLoss(16, 4, 2, 0.04, 0.04, 0, epochs=1, centering="sinkhorn")
    one_prototype = torch.zeros(8, 16)
    one_prototype[:, 3] = 5.0
    one_prototype += torch.randn(8, 16) * 0.1
    indicators = loss.collapse_indicators(one_prototype, epoch=0)
    assert indicators["teacher_marginal_entropy"] > 0.7
    assert make_loss(16, 2, 2).collapse_indicators(one_prototype, epoch=0)["teacher_marginal_entropy"] < 0.1

"""Parameter groups, per-tensor clipping, last-layer freeze and the EMA teacher (reference §1.5, §6.2 items 9-10)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from dinomc_core.models import DINOHead, MultiCropWrapper, create_backbone
from dinomc_core.ssl.optim import (
    apply_schedules,
    cancel_last_layer_gradients,
    clip_gradients,
    parameter_groups,
    scaled_learning_rate,
    update_teacher,
)


def test_parameter_groups_of_vit_s8_with_head_match_the_reference() -> None:
    model = MultiCropWrapper(create_backbone("vit_small_patch8_224", 3), DINOHead(384, 65536))
    decayed, not_decayed = parameter_groups(model)
    assert (len(decayed["params"]), sum(p.numel() for p in decayed["params"])) == (55, 43_891_456)
    assert (len(not_decayed["params"]), sum(p.numel() for p in not_decayed["params"])) == (102, 65_408)
    assert not_decayed["weight_decay"] == 0.0
    assert all(p.requires_grad for group in (decayed, not_decayed) for p in group["params"])


def test_schedules_set_the_rate_everywhere_and_the_decay_on_weights_only() -> None:
    model = nn.Linear(4, 2)
    optimizer = torch.optim.AdamW(parameter_groups(model))
    apply_schedules(optimizer, 1e-3, 0.3)
    assert [group["lr"] for group in optimizer.param_groups] == [1e-3, 1e-3]
    assert [group["weight_decay"] for group in optimizer.param_groups] == [0.3, 0.0]
    assert scaled_learning_rate(5e-4, 8, 4) == pytest.approx(6.25e-5)


def test_each_gradient_tensor_is_clipped_on_its_own() -> None:
    model = nn.Sequential(nn.Linear(8, 16), nn.Linear(16, 4))
    gradients = [torch.full((16, 8), 10.0), torch.full((16,), 0.01), torch.full((4, 16), -5.0), torch.full((4,), 0.1)]
    for parameter, gradient in zip(model.parameters(), gradients):
        parameter.grad = gradient.clone()
    clip_gradients(model, 3.0)
    norms = [parameter.grad.norm().item() for parameter in model.parameters()]
    assert norms[0] == pytest.approx(3.0, rel=1e-5) and norms[2] == pytest.approx(3.0, rel=1e-5)
    assert torch.equal(model[0].bias.grad, gradients[1]) and torch.equal(model[1].bias.grad, gradients[3])
    assert torch.allclose(model[0].weight.grad, gradients[0] * 3.0 / (gradients[0].norm() + 1e-6))


def test_last_layer_gradients_are_dropped_in_the_first_epoch_only() -> None:
    head = DINOHead(8, 32, hidden_dim=16, bottleneck_dim=8)
    for epoch, last_layer_kept in ((0, False), (1, True)):
        head.zero_grad(set_to_none=True)
        head(torch.randn(4, 8)).sum().backward()
        cancel_last_layer_gradients(head, epoch, freeze_last_layer_epochs=1)
        last_layer = [p.grad is not None for n, p in head.named_parameters() if "last_layer" in n and p.requires_grad]
        assert last_layer == [last_layer_kept]
        assert all(p.grad is not None for n, p in head.named_parameters() if "last_layer" not in n)


def test_teacher_is_the_ema_of_the_student_and_buffers_are_left_alone() -> None:
    torch.manual_seed(0)
    student = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    teacher = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    teacher[1].running_mean.fill_(7.0)
    before = [p.detach().clone() for p in teacher.parameters()]
    update_teacher(student, teacher, momentum=0.996)
    for old, new, current in zip(before, teacher.parameters(), student.parameters()):
        assert torch.allclose(new, 0.996 * old + 0.004 * current, atol=1e-7)
    assert torch.equal(teacher[1].running_mean, torch.full((4,), 7.0))

"""Siamese change model: any backbone, any input size, a frozen encoder stays frozen."""
from __future__ import annotations

import pytest
import torch

from dinomc_core.downstream.change_model import ChangeModel
from dinomc_core.models import load_model


@pytest.mark.parametrize("arch", ["resnet18", "vit_tiny_patch16_224"])
def test_logits_at_input_resolution_for_odd_sizes(encoder_file, arch):
    model = ChangeModel(load_model(encoder_file(arch)))
    with torch.no_grad():
        logits = model.eval()(torch.randn(2, 13, 70, 45), torch.randn(2, 13, 70, 45))
    assert logits.shape == (2, 1, 70, 45)


def test_identical_dates_give_identical_logits_everywhere_the_inputs_agree(encoder_file):
    model = ChangeModel(load_model(encoder_file("resnet18"))).eval()
    x = torch.randn(1, 13, 64, 64)
    with torch.no_grad():
        first, second = model(x, x), model(x.clone(), x.clone())
    assert torch.equal(first, second)


def test_frozen_encoder_gets_no_gradient_and_keeps_eval_mode(encoder_file):
    model = ChangeModel(load_model(encoder_file("resnet18")), freeze_encoder=True).train()
    assert not model.encoder.training and model.decoder.training
    running_mean = model.encoder.model.bn1.running_mean.clone()
    model(torch.randn(2, 13, 64, 64), torch.randn(2, 13, 64, 64)).mean().backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.decoder.parameters())
    assert torch.equal(model.encoder.model.bn1.running_mean, running_mean)
    tuned = ChangeModel(load_model(encoder_file("resnet18")), freeze_encoder=False).train()
    tuned(torch.randn(2, 13, 64, 64), torch.randn(2, 13, 64, 64)).mean().backward()
    assert tuned.encoder.training and tuned.encoder.model.conv1.weight.grad is not None
    assert tuned.describe()["encoder"] == "finetuned"

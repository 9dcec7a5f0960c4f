"""Runtime: CPU without torchrun, AMP as bfloat16 autocast on the CPU."""
from __future__ import annotations

import torch

from dinomc_core.downstream.runtime import evaluation_mode, setup_runtime


def test_single_process_on_cpu_with_bfloat16_amp(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    runtime = setup_runtime("cpu", amp=True)
    assert runtime.is_main and not runtime.distributed and runtime.device.type == "cpu"
    layer = torch.nn.Linear(4, 4)
    with runtime.autocast():
        assert layer(torch.randn(2, 4)).dtype == torch.bfloat16
    assert runtime.wrap(layer) is layer and not runtime.grad_scaler().is_enabled()
    with setup_runtime("cpu").autocast():
        assert layer(torch.randn(2, 4)).dtype == torch.float32


def test_evaluation_mode_restores_training_mode():
    layer = torch.nn.Dropout().train()
    with evaluation_mode(layer):
        assert not layer.training and not torch.is_grad_enabled()
    assert layer.training

"""Single-process behaviour of the torchrun helpers (the 2-process run is in tests/test_pretrain.py)."""
from __future__ import annotations

import pytest
import torch

from dinomc_core.errors import DinoMCError
from dinomc_core.ssl.distributed import all_gather_objects, all_reduce_mean, init_distributed, resolve_device


def test_without_torchrun_the_process_is_rank_0_of_1(monkeypatch) -> None:
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    context = init_distributed("cpu")
    assert (context.rank, context.world_size, context.is_main, context.is_distributed) == (0, 1, True, False)
    assert context.device == torch.device("cpu")
    value = torch.tensor([1.5, 2.5])
    assert torch.equal(all_reduce_mean(value), value) and all_gather_objects({"a": 1}) == [{"a": 1}]


def test_devices_are_checked() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DinoMCError, match="choose one of auto, cpu, cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DinoMCError, match="no CUDA GPU is visible"):
            resolve_device("cuda")

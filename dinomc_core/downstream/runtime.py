"""Where downstream training runs: CPU or GPU, mixed precision, and several processes under ``torchrun``."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from dinomc_core.ssl.distributed import DistributedContext, init_distributed


@dataclass(frozen=True)
class Runtime:
    """The process's place in the run (device, rank, world size; from ``dinomc_core.ssl.distributed``) and AMP."""

    context: DistributedContext
    amp: bool = False

    @property
    def device(self) -> torch.device:
        return self.context.device

    @property
    def is_main(self) -> bool:
        """Only the main process evaluates, writes files and logs."""
        return self.context.is_main

    @property
    def distributed(self) -> bool:
        return self.context.is_distributed

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision when AMP is on: float16 on CUDA, bfloat16 on CPU."""
        if not self.amp:
            return contextlib.nullcontext()
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A loss scaler, active only for float16 AMP on CUDA."""
        return torch.amp.GradScaler(self.device.type, enabled=self.amp and self.device.type == "cuda")

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` in DistributedDataParallel when several processes train it, else unchanged."""
        if not self.distributed:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def setup_runtime(device: str = "auto", amp: bool = False) -> Runtime:
    """The runtime of this process; joins the process group when started by ``torchrun``."""
    return Runtime(init_distributed(device), amp)


@contextlib.contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode without gradients, restored to its previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)

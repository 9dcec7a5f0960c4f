"""Data-parallel plumbing: one process per device under ``torchrun``, or a single process without it.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; each process then joins a process group (NCCL on
CUDA, gloo on CPU) and drives the device ``LOCAL_RANK``. Only rank 0 writes files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from dinomc_core.errors import DinoMCError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in the run."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, model files, logs and the progress bar."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(request: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA when a GPU is visible; under torchrun each process takes GPU ``local_rank``."""
    if request not in DEVICE_CHOICES:
        raise DinoMCError(f"unknown device '{request}'; choose one of {', '.join(DEVICE_CHOICES)}")
    if request == "cuda" and not torch.cuda.is_available():
        raise DinoMCError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if request == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank)


def init_distributed(device_request: str = "auto") -> DistributedContext:
    """Join the torchrun process group when launched by torchrun; otherwise describe a single process."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistributedContext(rank=0, world_size=1, local_rank=0, device=resolve_device(device_request))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = resolve_device(device_request, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", init_method="env://")
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, device)


def shutdown_distributed() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every process (a no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of ``value`` over every process (``value`` itself in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    reduced = value.clone()
    dist.all_reduce(reduced)
    return reduced / dist.get_world_size()


def all_gather_objects(value: Any) -> list[Any]:
    """Every process's ``value``, in rank order (``[value]`` in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered

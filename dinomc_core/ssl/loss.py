"""DINO's self-distillation loss with a centred, sharpened teacher, as in DINO and DINO-MC.

The teacher's softmax over the global views is the target for the student's softmax over every view, except the
student's copy of the same view. The centre (an EMA of the teacher's outputs) and the low teacher temperature
together keep the outputs from collapsing, to one dimension or to the uniform distribution. DINOv2's alternative,
Sinkhorn-Knopp centring, replaces the centre by a balanced assignment of the batch to the prototypes: every
prototype gets an equal share of each batch, so the targets cannot settle on a handful of prototypes.
"""
from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from dinomc_core.ssl.schedules import teacher_temperature_schedule

CENTERINGS = ("ema", "sinkhorn")
SINKHORN_ITERATIONS = 3  # DINOv2's setting



class DINOLoss(nn.Module):
    """Cross-entropy between the teacher's global views and the student's other views, averaged over pairs.

    Outputs are crop-major: ``student_output`` holds ``crops_number`` chunks of one batch each, ``teacher_output``
    holds ``global_crops_number`` chunks, and chunk ``i`` of both is the same view. Works in one process and
    all-reduces the centre across processes when a process group is initialised.
    """

    def __init__(
        self,
        out_dim: int,
        crops_number: int,
        global_crops_number: int,
        warmup_teacher_temp: float,
        teacher_temp: float,
        warmup_teacher_temp_epochs: int,
        epochs: int,
        student_temp: float = 0.1,
        center_momentum: float = 0.9,
        centering: str = "ema",
    ) -> None:
        super().__init__()
        self.centering = centering
        self.crops_number = crops_number
        self.global_crops_number = global_crops_number
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.register_buffer("center", torch.zeros(1, out_dim))
        self.teacher_temp_schedule = teacher_temperature_schedule(
            warmup_teacher_temp, teacher_temp, warmup_teacher_temp_epochs, epochs
        )

    @property
    def pairs_number(self) -> int:
        """How many (teacher view, student view) pairs the loss averages over."""
        return self.global_crops_number * self.crops_number - self.global_crops_number

    def forward(self, student_output: torch.Tensor, teacher_output: torch.Tensor, epoch: int) -> torch.Tensor:
        """The mean over pairs of the batch-mean cross-entropy; updates the centre afterwards."""
        student_log_probs = F.log_softmax(student_output / self.student_temp, dim=-1).chunk(self.crops_number)
        teacher_probs = self.teacher_probabilities(teacher_output, epoch).chunk(self.global_crops_number)
        total_loss = student_output.new_zeros(())
        for teacher_view, q in enumerate(teacher_probs):
            for student_view, log_p in enumerate(student_log_probs):
                if student_view != teacher_view:
                    total_loss = total_loss + torch.sum(-q * log_p, dim=-1).mean()
        if self.centering == "ema":  # Sinkhorn-Knopp needs no running centre
            self.update_center(teacher_output)
        return total_loss / self.pairs_number

    @torch.no_grad()
    def teacher_probabilities(self, teacher_output: torch.Tensor, epoch: int) -> torch.Tensor:
        """The centred, sharpened teacher distribution (a target: no gradient flows through it)."""
        temperature = float(self.teacher_temp_schedule[epoch])
        if self.centering == "sinkhorn":
            return sinkhorn_knopp(teacher_output.float() / temperature, SINKHORN_ITERATIONS)
        return F.softmax((teacher_output - self.center) / temperature, dim=-1)

    @torch.no_grad()
    def update_center(self, teacher_output: torch.Tensor) -> None:
        """EMA of the mean raw teacher output, over the whole batch of every process."""
        batch_center = torch.sum(teacher_output, dim=0, keepdim=True)
        world_size = 1
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(batch_center)
            world_size = dist.get_world_size()
        batch_center = batch_center / (len(teacher_output) * world_size)
        self.center = self.center * self.center_momentum + batch_center * (1 - self.center_momentum)

    @torch.no_grad()
    def collapse_indicators(self, teacher_output: torch.Tensor, epoch: int) -> dict[str, float]:
        """Entropies of the teacher's targets, as fractions of their maximum ln(out_dim); call before ``forward``.

        ``teacher_entropy`` (mean entropy of each target) near 1 means collapse to the uniform distribution;
        ``teacher_marginal_entropy`` (entropy of the batch-mean target) near 0 means collapse to one dimension.
        A healthy run keeps the first well below 1 and the second well above 0.
        """
        probs = self.teacher_probabilities(teacher_output.float(), epoch)
        max_entropy = math.log(probs.shape[-1])
        per_sample = -(probs * torch.log(probs.clamp_min(1e-12))).sum(dim=-1).mean()
        marginal = probs.mean(dim=0)
        batch = -(marginal * torch.log(marginal.clamp_min(1e-12))).sum()
        return {
            "teacher_entropy": per_sample.item() / max_entropy,
            "teacher_marginal_entropy": batch.item() / max_entropy,
        }


@torch.no_grad()
def sinkhorn_knopp(logits: torch.Tensor, iterations: int) -> torch.Tensor:
    """Rows of ``softmax(logits)`` rebalanced so that every column (prototype) gets an equal share of the batch.

    Alternately normalises the prototypes' totals to 1/K and the samples' totals to 1/B (SwAV, DINOv2), over the
    batch of every process. It works with logarithms: a sharp teacher's exponentials underflow in float32, which
    would leave prototypes at zero that the balancing should raise.
    """
    distributed = dist.is_available() and dist.is_initialized()
    batch = logits.shape[0] * (dist.get_world_size() if distributed else 1)
    log_assignment = logits.double()
    for _ in range(iterations):
        log_assignment = log_assignment - column_logsumexp(log_assignment, distributed) - math.log(logits.shape[1])
        log_assignment = log_assignment - torch.logsumexp(log_assignment, dim=1, keepdim=True) - math.log(batch)
    return torch.exp(log_assignment + math.log(batch)).to(logits.dtype)


def column_logsumexp(values: torch.Tensor, distributed: bool) -> torch.Tensor:
    """``log(sum(exp(values), dim=0))`` over the rows of every process, computed without overflow."""
    peak = values.max(dim=0, keepdim=True).values
    if distributed:
        dist.all_reduce(peak, op=dist.ReduceOp.MAX)
    totals = torch.exp(values - peak).sum(dim=0, keepdim=True)
    if distributed:
        dist.all_reduce(totals)
    return torch.log(totals) + peak

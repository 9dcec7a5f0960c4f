"""The training loop: DINO's step reproduced, outputs, exact resume after a crash, refusals and a stopped run."""
from __future__ import annotations

import copy
import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dinomc_core.data.normalization import compute_normalization
from dinomc_core.data.pretrain_datasets import build_pretrain_dataset
from dinomc_core.errors import CancelledError, DinoMCError
from dinomc_core.models import load_model
from dinomc_core.progress import SilentProgress
from dinomc_core.ssl import PretrainConfig, pretrain
from dinomc_core.ssl.distributed import DistributedContext
from dinomc_core.ssl.loss import DINOLoss
from dinomc_core.ssl.trainer import LOG_FIELDS, build_training, train_step

CPU = DistributedContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))


def tiny_config(data: Path, out: Path, **settings) -> PretrainConfig:
    """A ViT-Tiny run on 32 px global and 24/16 px local crops: seconds per epoch on one thread."""
    values = dict(
        data=[str(data)], out=str(out), arch="vit_tiny_patch16_224", global_size=32, local_sizes=[24, 16],
        out_dim=64, epochs=3, batch_size=4, num_workers=0,
    )
    values.update(settings)
    return PretrainConfig(**values)


class CancelAfter(SilentProgress):
    """A progress sink that asks the run to stop after ``steps`` steps, as a crash or Ctrl-C would."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.done = 0

    def advance(self, amount: int = 1) -> None:
        self.done += amount

    def is_cancelled(self) -> bool:
        return self.done >= self.steps


@pytest.fixture(scope="module")
def straight_run(eurosat_class_folder, tmp_path_factory):
    """Three epochs of two steps on eight real EuroSAT chips."""
    out = tmp_path_factory.mktemp("straight")
    torch.set_num_threads(1)
    return pretrain(tiny_config(eurosat_class_folder, out))


def dino_reference_step(student, teacher, dino_loss, optimizer, crops, epoch, lr, wd, momentum) -> torch.Tensor:
    """DINO's train_one_epoch body for one iteration, transcribed from main_dino.py and utils.py (fp32)."""
    for i, param_group in enumerate(optimizer.param_groups):
        param_group["lr"] = lr
        if i == 0:
            param_group["weight_decay"] = wd
    teacher_output = teacher(crops[:2])
    student_output = student(crops)
    loss = dino_loss(student_output, teacher_output, epoch)
    optimizer.zero_grad()
    loss.backward()
    for name, p in student.named_parameters():  # utils.clip_gradients
        if p.grad is not None:
            param_norm = p.grad.data.norm(2)
            clip_coef = 3.0 / (param_norm + 1e-6)
            if clip_coef < 1:
                p.grad.data.mul_(clip_coef)
    if epoch < 1:  # utils.cancel_gradients_last_layer
        for n, p in student.named_parameters():
            if "last_layer" in n:
                p.grad = None
    optimizer.step()
    with torch.no_grad():
        for param_q, param_k in zip(student.parameters(), teacher.parameters()):
            param_k.data.mul_(momentum).add_((1 - momentum) * param_q.detach().data)
    return loss


@pytest.mark.parametrize("epoch", [0, 1])
def test_one_step_matches_dinos_training_step(epoch: int) -> None:
    torch.manual_seed(0)
    config = PretrainConfig(data=["-"], out="-", arch="vit_tiny_patch16_224", out_dim=256, epochs=2, batch_size=2)
    training = build_training(config, in_chans=3, iterations_per_epoch=1, crops_number=4, context=CPU)
    student, teacher = copy.deepcopy(training.student_module), copy.deepcopy(training.teacher)
    regularized = [p for n, p in student.named_parameters() if p.requires_grad and not (n.endswith(".bias") or p.ndim == 1)]
    not_regularized = [p for n, p in student.named_parameters() if p.requires_grad and (n.endswith(".bias") or p.ndim == 1)]
    optimizer = torch.optim.AdamW([{"params": regularized}, {"params": not_regularized, "weight_decay": 0.0}])
    dino_loss = DINOLoss(256, 4, 2, 0.04, 0.04, 0, 2)
    crops = [torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32), torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16)]
    schedules = training.schedules
    for _ in range(2):
        torch.manual_seed(1)  # the student's drop path draws the same paths in both
        ours, _ = train_step(training, crops, epoch, iteration=epoch)
        torch.manual_seed(1)
        theirs = dino_reference_step(student, teacher, dino_loss, optimizer, crops, epoch,
                                     schedules.lr[epoch], schedules.weight_decay[epoch], schedules.momentum[epoch])
        assert ours.item() == pytest.approx(theirs.item(), abs=1e-6)
    for mine, reference in ((training.student_module, student), (training.teacher, teacher)):
        for (name, a), b in zip(mine.named_parameters(), reference.parameters()):
            assert torch.allclose(a, b, atol=1e-6), name
    assert torch.allclose(training.dino_loss.center, dino_loss.center, atol=1e-7)


def test_a_run_writes_checkpoint_encoder_log_and_plot(straight_run, eurosat_class_folder) -> None:
    out = straight_run.out
    assert math.isfinite(straight_run.final_loss) and straight_run.epochs == 3
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 3
    assert {"student", "teacher", "optimizer", "scaler", "dino_loss", "config", "rng", "normalization"} <= set(checkpoint)
    encoder = load_model(out / "encoder.dinomc")
    metadata = encoder.metadata
    dataset = build_pretrain_dataset([eurosat_class_folder])
    assert metadata.bands == dataset.band_names and metadata.task == "encoder"
    assert (metadata.arch, metadata.tile_size, metadata.gsd) == ("vit_tiny_patch16_224", 32, pytest.approx(10.0, rel=1e-3))
    expected = compute_normalization(dataset, dataset.scale).to_dict()
    assert all(metadata.normalization[key] == pytest.approx(expected[key]) for key in ("scale", "mean", "std"))
    teacher_backbone = {k[len("backbone."):]: v for k, v in checkpoint["teacher"].items() if k.startswith("backbone.")}
    assert all(torch.equal(encoder.state_dict()[name], tensor) for name, tensor in teacher_backbone.items())
    with open(out / "log.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert tuple(rows[0]) == LOG_FIELDS and [int(row["step"]) for row in rows] == list(range(6))
    assert all(0 < float(row["teacher_entropy"]) <= 1 for row in rows)
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_after_a_crash_gives_the_straight_runs_result(straight_run, eurosat_class_folder, tmp_path) -> None:
    with pytest.raises(CancelledError):
        pretrain(tiny_config(eurosat_class_folder, tmp_path), CancelAfter(steps=5))  # dies in epoch 3
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 2
    resumed = pretrain(tiny_config(eurosat_class_folder, tmp_path, resume=True))
    assert resumed.final_loss == straight_run.final_loss
    straight = torch.load(straight_run.checkpoint, weights_only=True)["teacher"]
    again = torch.load(resumed.checkpoint, weights_only=True)["teacher"]
    assert all(torch.equal(straight[name], again[name]) for name in straight)
    with open(tmp_path / "log.csv", newline="") as file:
        assert [int(row["step"]) for row in csv.DictReader(file)] == list(range(6))


@pytest.mark.parametrize(
    ("setting", "value"), [("arch", "resnet18"), ("out_dim", 128), ("global_size", 48), ("local_sizes", [16]), ("bands", ["B02", "B03", "B04"])]
)
def test_resume_refuses_other_settings(straight_run, eurosat_class_folder, setting, value) -> None:
    config = tiny_config(eurosat_class_folder, straight_run.out, resume=True, **{setting: value})
    with pytest.raises(DinoMCError, match=f"cannot resume .* {setting}"):
        pretrain(config)


def test_a_new_run_never_overwrites_an_old_one(straight_run, eurosat_class_folder) -> None:
    with pytest.raises(DinoMCError, match="already holds a run; pass --resume"):
        pretrain(tiny_config(eurosat_class_folder, straight_run.out))


def test_a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    straight_run, eurosat_class_folder, tmp_path, monkeypatch
) -> None:
    out = tmp_path / "run"
    pretrain(tiny_config(eurosat_class_folder, out, epochs=1))
    saved = (out / "checkpoint.pt").read_bytes()
    monkeypatch.setattr(DINOLoss, "forward", lambda self, student, teacher, epoch: (student * np.nan).sum())
    with pytest.raises(DinoMCError, match="loss became nan at epoch 2, step 1.*last good checkpoint is kept"):
        pretrain(tiny_config(eurosat_class_folder, out, epochs=2, resume=True))
    assert (out / "checkpoint.pt").read_bytes() == saved


def test_dinotp_learns_from_two_dates_of_one_city(shared_data, tmp_path) -> None:
    pisa = shared_data / "oscd/Onera Satellite Change Detection dataset - Images/pisa"
    config = tiny_config(pisa, tmp_path, mode="dinotp", bands=["B04", "B03", "B02"], window_size=256, epochs=1)
    result = pretrain(config)
    checkpoint = torch.load(result.checkpoint, weights_only=True)
    assert math.isfinite(result.final_loss)
    assert checkpoint["identity"]["mode"] == "dinotp" and checkpoint["identity"]["bands"] == ["B04", "B03", "B02"]
    assert load_model(result.encoder).metadata.in_chans == 3


def test_a_cnn_trains_channels_last_with_batch_statistics(eurosat_class_folder, tmp_path) -> None:
    result = pretrain(tiny_config(eurosat_class_folder, tmp_path, arch="resnet18", epochs=1))
    checkpoint = torch.load(result.checkpoint, weights_only=True)
    assert math.isfinite(result.final_loss)
    assert not torch.equal(checkpoint["teacher"]["backbone.model.bn1.running_mean"], torch.zeros(64))
    encoder = load_model(result.encoder)
    assert encoder.metadata.arch == "resnet18" and encoder(torch.zeros(1, 13, 32, 32)).shape == (1, 512)

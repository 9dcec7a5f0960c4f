"""The DINO / DINO-MC / DINO-TP training loop, read top to bottom like DINO's ``train_dino``.

One process, or one per device under ``torchrun``. Rank 0 writes ``checkpoint.pt`` (everything an exact resume
needs) and ``encoder.dinomc`` (the teacher's backbone, which DINO evaluates) after every epoch, and appends to
``log.csv`` and redraws ``loss.png`` as it goes. Writes are atomic, so a crash never leaves a corrupt file.
"""
from __future__ import annotations

import contextlib
import csv
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from dinomc_core.atomic import atomic_path
from dinomc_core.data import rgb_indices
from dinomc_core.data.normalization import Normalization, compute_normalization
from dinomc_core.data.pretrain_datasets import PretrainDataset, build_pretrain_dataset
from dinomc_core.errors import CancelledError, DinoMCError
from dinomc_core.models import DINOHead, MultiCropWrapper, create_backbone, encoder_tensors, save_model_file
from dinomc_core.models.modelfile import metadata_for_backbone
from dinomc_core.progress import Progress, SilentProgress
from dinomc_core.ssl.augment import MultiCropAugmentation, crop_specs, global_crops_number, local_crop_sizes
from dinomc_core.ssl.config import PretrainConfig
from dinomc_core.ssl.distributed import (
    DistributedContext,
    all_gather_objects,
    all_reduce_mean,
    barrier,
    init_distributed,
    shutdown_distributed,
)
from dinomc_core.ssl.loss import DINOLoss
from dinomc_core.ssl.optim import (
    apply_schedules,
    cancel_last_layer_gradients,
    clip_gradients,
    parameter_groups,
    scaled_learning_rate,
    update_teacher,
)
from dinomc_core.ssl.schedules import cosine_scheduler, effective_warmup_epochs

CHECKPOINT_NAME = "checkpoint.pt"
ENCODER_NAME = "encoder.dinomc"
LOG_NAME = "log.csv"
PLOT_NAME = "loss.png"
LOG_EVERY = 10
LOG_FIELDS = (
    "epoch", "step", "loss", "lr", "weight_decay", "teacher_momentum", "teacher_temp",
    "teacher_entropy", "teacher_marginal_entropy",
)
PATH_SETTINGS = ("data", "out", "resume")  # where a run was, not how it trained
AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class PretrainResult:
    """What a finished run left in its output folder."""

    out: Path
    epochs: int
    final_loss: float
    checkpoint: Path
    encoder: Path


@dataclass
class Schedules:
    """Per-iteration learning rate, weight decay and teacher momentum."""

    lr: np.ndarray
    weight_decay: np.ndarray
    momentum: np.ndarray


@dataclass
class Training:
    """The networks and optimiser state one training step updates."""

    student: nn.Module  # what the step calls: the DDP wrapper under torchrun
    student_module: MultiCropWrapper
    teacher: MultiCropWrapper
    dino_loss: DINOLoss
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    schedules: Schedules
    global_crops_number: int
    autocast_dtype: torch.dtype | None
    memory_format: torch.memory_format  # channels-last for CNNs: faster convolutions
    clip_grad: float
    freeze_last_layer: int


def pretrain(config: PretrainConfig, progress: Progress | None = None) -> PretrainResult:
    """Pretrain an encoder as ``config`` says; resumable, data-parallel under torchrun."""
    config.check()
    context = init_distributed(config.device)
    try:
        return train_dino(config, context, progress if context.is_main and progress else SilentProgress())
    finally:
        shutdown_distributed()


def train_dino(config: PretrainConfig, context: DistributedContext, progress: Progress) -> PretrainResult:
    """DINO's ``train_dino``: data, networks, loss, optimiser, schedules, resume, then the epochs."""
    out = Path(config.out)
    checkpoint = read_checkpoint(out) if config.resume else None
    if checkpoint is None:
        refuse_existing_run(out)
    if context.is_main:
        make_output_folder(out)
    if config.precision == "fp16" and context.device.type != "cuda":
        raise DinoMCError("--precision fp16 needs a CUDA GPU; use --precision bf16 (or fp32) on the CPU")
    seed_everything(config.seed + context.rank)
    torch.backends.cudnn.benchmark = True  # crop sizes repeat every step

    # ============ data: raw windows, normalisation from the data, multi-crop augmentation ============
    dataset = build_pretrain_dataset(
        config.data, config.bands, temporal=config.mode == "dinotp", window_size=config.window_size, seed=config.seed
    )
    local_sizes = local_crop_sizes(config.mode, config.local_sizes, config.local_crops_number)
    check_crop_sizes(dataset, config.global_size, local_sizes)
    identity = run_identity(config, dataset.band_names, local_sizes)
    if checkpoint is not None:
        check_same_run(checkpoint["identity"], identity, out)
        normalization = Normalization.from_dict(checkpoint["normalization"])
    else:
        normalization = data_normalization(config, dataset)
    global_views, local_views = crop_specs(config.mode, config.global_size, local_sizes, config.photometric)
    dataset.transform = MultiCropAugmentation(
        global_views, local_views, normalization.scale, normalization.mean, normalization.std,
        rgb_indices(dataset.band_names) if dataset.names_known else None, dataset.nodata,
    )
    loader = build_loader(dataset, config, context)
    progress.log(f"data: {dataset!r}, {len(loader)} steps of {config.batch_size} x {context.world_size} per epoch")

    # ============ networks, loss, optimiser and schedules ============
    training = build_training(config, len(dataset.band_names), len(loader), len(global_views + local_views), context)
    start_epoch, final_loss = 0, math.nan
    if checkpoint is not None:
        start_epoch, final_loss = restore(checkpoint, training, context)
    log = TrainingLog(out / LOG_NAME, keep_epochs_before=start_epoch) if context.is_main else None
    if start_epoch >= config.epochs:
        progress.log(f"the run in {out} has already trained {start_epoch} epochs; raise --epochs to train longer")

    # ============ training ============
    progress.set_total((config.epochs - start_epoch) * len(loader), f"pretraining {config.mode} {config.arch}")
    for epoch in range(start_epoch, config.epochs):
        dataset.set_epoch(epoch)
        loader.sampler.set_epoch(epoch)
        started = time.perf_counter()
        final_loss = train_one_epoch(training, loader, epoch, context, log, progress)
        rng_states = all_gather_objects(rng_state())
        if context.is_main:
            save_checkpoint(out, training, epoch + 1, final_loss, identity, normalization, config, rng_states)
            save_encoder(out, training.teacher.backbone, dataset, normalization, config, epoch + 1)
            log.plot(out / PLOT_NAME)
        images = len(loader) * config.batch_size * context.world_size
        progress.log(
            f"epoch {epoch + 1}/{config.epochs}: loss {final_loss:.4f}, "
            f"{images / (time.perf_counter() - started):.2f} images/s"
        )
    barrier()
    return PretrainResult(out, config.epochs, final_loss, out / CHECKPOINT_NAME, out / ENCODER_NAME)


def train_one_epoch(
    training: Training,
    loader: DataLoader,
    epoch: int,
    context: DistributedContext,
    log: TrainingLog | None,
    progress: Progress,
) -> float:
    """One pass over the data; returns the epoch's mean loss over every process."""
    losses = []
    for step, crops in enumerate(loader):
        iteration = len(loader) * epoch + step
        crops = [crop.to(context.device, non_blocking=True, memory_format=training.memory_format) for crop in crops]
        logging_step = step % LOG_EVERY == 0 or step == len(loader) - 1
        loss, indicators = train_step(training, crops, epoch, iteration, measure_collapse=logging_step)
        loss_value = all_reduce_mean(loss).item()
        if not math.isfinite(loss_value):
            raise DinoMCError(
                f"the loss became {loss_value} at epoch {epoch + 1}, step {step + 1}, so training stopped; the last "
                "good checkpoint is kept: lower --lr, or use --precision fp32, and continue with --resume"
            )
        losses.append(loss_value)
        if log is not None and logging_step:
            log.append({
                "epoch": epoch, "step": iteration, "loss": loss_value,
                "lr": training.schedules.lr[iteration], "weight_decay": training.schedules.weight_decay[iteration],
                "teacher_momentum": training.schedules.momentum[iteration],
                "teacher_temp": training.dino_loss.teacher_temp_schedule[epoch], **indicators,
            })
        progress.advance()
        if progress.is_cancelled():
            raise CancelledError("pretraining was cancelled; the checkpoint of the last finished epoch is kept")
    return float(np.mean(losses))


def train_step(
    training: Training, crops: list[torch.Tensor], epoch: int, iteration: int, measure_collapse: bool = False
) -> tuple[torch.Tensor, dict[str, float]]:
    """One DINO step: teacher on the global views, student on all, loss, clipped update, EMA of the teacher."""
    schedules = training.schedules
    apply_schedules(training.optimizer, float(schedules.lr[iteration]), float(schedules.weight_decay[iteration]))
    with autocast(crops[0].device, training.autocast_dtype):
        with torch.no_grad():
            teacher_output = training.teacher(crops[: training.global_crops_number]).float()
        student_output = training.student(crops).float()
    indicators = training.dino_loss.collapse_indicators(teacher_output, epoch) if measure_collapse else {}
    loss = training.dino_loss(student_output, teacher_output, epoch)

    training.optimizer.zero_grad(set_to_none=True)
    training.scaler.scale(loss).backward()
    training.scaler.unscale_(training.optimizer)
    if training.clip_grad > 0:
        clip_gradients(training.student_module, training.clip_grad)
    cancel_last_layer_gradients(training.student_module, epoch, training.freeze_last_layer)
    training.scaler.step(training.optimizer)
    training.scaler.update()
    update_teacher(training.student_module, training.teacher, float(schedules.momentum[iteration]))
    return loss.detach(), indicators


def build_training(
    config: PretrainConfig, in_chans: int, iterations_per_epoch: int, crops_number: int, context: DistributedContext
) -> Training:
    """Student and EMA teacher (same initial weights), DINO loss, AdamW in two groups, and the schedules."""
    student, teacher = build_networks(config.arch, in_chans, config.out_dim, config.drop_path_rate)
    if context.device.type == "cpu":
        use_explicit_attention(student)
        use_explicit_attention(teacher)
    if context.is_distributed and context.device.type == "cuda":
        student = nn.SyncBatchNorm.convert_sync_batchnorm(student)
        teacher = nn.SyncBatchNorm.convert_sync_batchnorm(teacher)
    memory_format = torch.contiguous_format if student.backbone.is_vit else torch.channels_last
    student_module = student.to(context.device, memory_format=memory_format)
    teacher = teacher.to(context.device, memory_format=memory_format)
    student = student_module
    if context.is_distributed:
        device_ids = [context.device.index] if context.device.type == "cuda" else None
        student = DistributedDataParallel(student_module, device_ids=device_ids)  # broadcasts rank 0's weights
    teacher.load_state_dict(student_module.state_dict())
    for parameter in teacher.parameters():
        parameter.requires_grad = False

    global_number = global_crops_number(config.mode)
    dino_loss = DINOLoss(
        config.out_dim, crops_number, global_number, config.warmup_teacher_temp, config.teacher_temp,
        config.warmup_teacher_temp_epochs, config.epochs, centering=config.centering,
    ).to(context.device)
    # fused: one kernel updates every parameter (the same AdamW update; a 1.6x faster ViT-S step on CPU)
    optimizer = torch.optim.AdamW(parameter_groups(student_module), fused=True)
    peak_lr = scaled_learning_rate(config.lr, config.batch_size, context.world_size)
    warmup = effective_warmup_epochs(config.warmup_epochs, config.epochs)
    schedules = Schedules(
        lr=cosine_scheduler(peak_lr, config.min_lr, config.epochs, iterations_per_epoch, warmup),
        weight_decay=cosine_scheduler(
            config.weight_decay, config.weight_decay_end, config.epochs, iterations_per_epoch
        ),
        momentum=cosine_scheduler(config.momentum_teacher, 1.0, config.epochs, iterations_per_epoch),
    )
    return Training(
        student=student,
        student_module=student_module,
        teacher=teacher,
        dino_loss=dino_loss,
        optimizer=optimizer,
        scaler=torch.amp.GradScaler(context.device.type, enabled=config.precision == "fp16"),
        schedules=schedules,
        global_crops_number=global_number,
        autocast_dtype=AUTOCAST_DTYPES[config.precision],
        memory_format=memory_format,
        clip_grad=config.clip_grad,
        freeze_last_layer=config.freeze_last_layer,
    )


def build_networks(
    arch: str, in_chans: int, out_dim: int, drop_path_rate: float
) -> tuple[MultiCropWrapper, MultiCropWrapper]:
    """Student and teacher: the same backbone and DINO head; only a ViT student gets stochastic depth."""
    teacher_backbone = create_backbone(arch, in_chans)
    student_drop_path = drop_path_rate if teacher_backbone.is_vit else 0.0
    student_backbone = create_backbone(arch, in_chans, drop_path_rate=student_drop_path)
    feature_dim = teacher_backbone.feature_dim
    student = MultiCropWrapper(student_backbone, DINOHead(feature_dim, out_dim))
    teacher = MultiCropWrapper(teacher_backbone, DINOHead(feature_dim, out_dim))
    return student, teacher


def use_explicit_attention(model: nn.Module) -> None:
    """Switch timm's attention from the fused SDPA kernel to explicit matmuls and softmax (same result).

    On CPU the fused kernel's backward is slower for DINO's short token sequences: a ViT-S/16 step runs 1.3x (bf16)
    to 1.4x (fp32) faster without it (docs/benchmarks.md). GPUs keep the fused kernel.
    """
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = False


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision for the forward passes when a reduced precision is asked for."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# ============ data helpers ============

def build_loader(dataset: PretrainDataset, config: PretrainConfig, context: DistributedContext) -> DataLoader:
    """Shuffled, full batches; each process reads its own share (DistributedSampler, also in one process)."""
    needed = config.batch_size * context.world_size
    if len(dataset) < needed:
        raise DinoMCError(
            f"the data gives {len(dataset)} images per epoch but one step needs {needed} "
            f"({config.batch_size} per process x {context.world_size}); add data or lower --batch-size"
        )
    sampler = DistributedSampler(
        dataset, num_replicas=context.world_size, rank=context.rank, shuffle=True, seed=config.seed, drop_last=True
    )
    return DataLoader(
        dataset,
        sampler=sampler,
        batch_size=config.batch_size,
        num_workers=config.num_workers,
        pin_memory=context.device.type == "cuda",
        drop_last=True,
    )


def check_crop_sizes(dataset: PretrainDataset, global_size: int, local_sizes: list[int]) -> None:
    """Refuse crops larger than the smallest image, which would only upsample it."""
    smallest = min(min(place.height, place.width, dataset.window_size) for place in dataset.places)
    largest_crop = max([global_size, *local_sizes])
    if largest_crop > smallest:
        raise DinoMCError(
            f"the smallest images are {smallest} px but the crops reach {largest_crop} px; pass a --global-size "
            f"and --local-sizes of at most {smallest} px (or pretrain on larger images or a larger --window-size)"
        )


def data_normalization(config: PretrainConfig, dataset: PretrainDataset) -> Normalization:
    """The per-band mean and std given in the configuration, else measured on the data."""
    if config.mean is None:
        return compute_normalization(dataset, dataset.scale)
    bands = len(dataset.band_names)
    if len(config.mean) != bands or len(config.std) != bands:
        raise DinoMCError(
            f"--mean and --std give {len(config.mean)} and {len(config.std)} values for {bands} bands; "
            "give one per band"
        )
    return Normalization(dataset.scale, config.mean, config.std)


# ============ run identity, checkpoints and model file ============

def run_identity(config: PretrainConfig, band_names: list[str], local_sizes: list[int]) -> dict[str, Any]:
    """The settings a resumed run must share with the saved one (they shape the networks or the views)."""
    return {
        "arch": config.arch,
        "mode": config.mode,
        "bands": list(band_names),
        "out_dim": config.out_dim,
        "global_size": config.global_size,
        "local_sizes": list(local_sizes),
    }


def check_same_run(saved: dict[str, Any], current: dict[str, Any], out: Path) -> None:
    """Refuse to resume a run with settings that do not match its checkpoint."""
    for key, value in current.items():
        if saved.get(key) != value:
            raise DinoMCError(
                f"cannot resume the run in {out}: it was trained with {key} {saved.get(key)} but this run asks "
                f"for {value}; use the same settings, or another --out for a new run"
            )


def refuse_existing_run(out: Path) -> None:
    """A new run never overwrites a previous one."""
    if (out / CHECKPOINT_NAME).exists():
        raise DinoMCError(f"{out} already holds a run; pass --resume to continue it, or choose another --out")


def make_output_folder(out: Path) -> None:
    """Create ``out`` now, so that a folder that cannot be written stops the run before any training."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DinoMCError(f"cannot create the output folder {out} ({error.strerror}); choose another --out") from error


def read_checkpoint(out: Path) -> dict[str, Any]:
    """The checkpoint of the run in ``out`` (tensors and plain values only; no code is unpickled)."""
    path = out / CHECKPOINT_NAME
    if not path.exists():
        raise DinoMCError(f"there is no {CHECKPOINT_NAME} in {out} to resume; drop --resume to start a new run")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged or foreign files
        raise DinoMCError(f"{path} is not a readable pretraining checkpoint ({error.__class__.__name__})") from error


def save_checkpoint(
    out: Path,
    training: Training,
    epochs_done: int,
    final_loss: float,
    identity: dict[str, Any],
    normalization: Normalization,
    config: PretrainConfig,
    rng_states: list[dict[str, Any]],
) -> None:
    """Everything an exact resume needs, written atomically."""
    state = {
        "epoch": epochs_done,
        "final_loss": final_loss,
        "student": training.student_module.state_dict(),
        "teacher": training.teacher.state_dict(),
        "optimizer": training.optimizer.state_dict(),
        "scaler": training.scaler.state_dict(),
        "dino_loss": training.dino_loss.state_dict(),
        "identity": identity,
        "normalization": normalization.to_dict(),
        "config": config.to_dict(),
        "rng": rng_states,
    }
    with atomic_path(out / CHECKPOINT_NAME) as temporary:
        torch.save(state, temporary)


def restore(checkpoint: dict[str, Any], training: Training, context: DistributedContext) -> tuple[int, float]:
    """Load a checkpoint into the training state; returns the next epoch and the last epoch's loss."""
    training.student_module.load_state_dict(checkpoint["student"])
    training.teacher.load_state_dict(checkpoint["teacher"])
    training.optimizer.load_state_dict(checkpoint["optimizer"])
    training.scaler.load_state_dict(checkpoint["scaler"])
    training.dino_loss.load_state_dict(checkpoint["dino_loss"])
    if len(checkpoint["rng"]) == context.world_size:
        set_rng_state(checkpoint["rng"][context.rank])
    return int(checkpoint["epoch"]), float(checkpoint["final_loss"])


def save_encoder(
    out: Path, backbone: nn.Module, dataset: PretrainDataset, normalization: Normalization,
    config: PretrainConfig, epochs_done: int,
) -> None:
    """The teacher's backbone as a model file, with what is needed to apply it to new rasters."""
    metadata = metadata_for_backbone(
        backbone,
        bands=list(dataset.band_names),
        normalization=normalization.to_dict(),
        gsd=dataset.gsd,
        tile_size=config.global_size,
        task="encoder",
        provenance={
            "method": config.mode,
            "photometric": config.photometric,
            "epochs": epochs_done,
            "data": [str(path) for path in config.data],
            "seed": config.seed,
            "created_by": "dinomc_core.pretrain",
            "settings": {key: value for key, value in config.to_dict().items() if key not in PATH_SETTINGS},
        },
    )
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in encoder_tensors(backbone).items()}
    save_model_file(out / ENCODER_NAME, metadata, tensors)


# ============ randomness ============

def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (the official code forgets Python's, which drives blur and solarisation)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """This process's random generators, as tensors and plain values (loadable without unpickling code)."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached_gaussian),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators saved by :func:`rng_state`."""
    random.setstate(state["python"])
    kind, keys, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached_gaussian))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ============ log ============

class TrainingLog:
    """``log.csv``, one row per logging step; a resumed run drops the rows of the epochs it redoes."""

    def __init__(self, path: Path, keep_epochs_before: int) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        if keep_epochs_before > 0 and path.exists():
            with open(path, newline="", encoding="utf-8") as file:
                self.rows = [row for row in csv.DictReader(file) if int(row["epoch"]) < keep_epochs_before]
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=LOG_FIELDS)
            writer.writeheader()
            writer.writerows(self.rows)

    def append(self, row: dict[str, Any]) -> None:
        """Add one row and flush it to disk at once."""
        row = {key: row.get(key, "") for key in LOG_FIELDS}
        self.rows.append(row)
        with open(self.path, "a", newline="", encoding="utf-8") as file:
            csv.DictWriter(file, fieldnames=LOG_FIELDS).writerow(row)

    def plot(self, path: Path) -> None:
        """Loss against iteration, written atomically (no pyplot, so no global backend is changed)."""
        from dinomc_core.plotting import Figure

        figure = Figure(figsize=(6, 4))
        axes = figure.add_subplot()
        axes.plot([int(row["step"]) for row in self.rows], [float(row["loss"]) for row in self.rows])
        axes.set_xlabel("iteration")
        axes.set_ylabel("DINO loss")
        axes.grid(alpha=0.3)
        figure.tight_layout()
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format="png", dpi=100)

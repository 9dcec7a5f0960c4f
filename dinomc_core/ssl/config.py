"""The settings of a pretraining run, with the paper's defaults; one source for the CLI flags and YAML keys."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from dinomc_core.errors import DinoMCError
from dinomc_core.ssl.augment import (
    DEFAULT_GLOBAL_SIZE,
    DEFAULT_LOCAL_SIZES,
    DEFAULT_MODE,
    DEFAULT_PHOTOMETRIC,
    MODES,
    PHOTOMETRIC_POLICIES,
)
from dinomc_core.ssl.loss import CENTERINGS

PRECISIONS = ("fp32", "bf16", "fp16")


def _setting(default: Any, help: str, **extra: Any) -> Any:
    """A dataclass field whose help text becomes the CLI flag's help."""
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: list(default), metadata={"help": help, **extra})
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class PretrainConfig:
    """Everything a pretraining run depends on. Defaults are DINO-MC's (official code and paper)."""

    data: list[str] = _setting([], "raster files or folders to pretrain on (several allowed)", paths=True)
    out: str = _setting("", "folder for checkpoint.pt, encoder.dinomc, log.csv and loss.png")
    arch: str = _setting("vit_small_patch8_224", "timm backbone name (ViT-S/8 as in the paper)")
    mode: str = _setting(DEFAULT_MODE, "dino (2x224 + 8x96 crops), dinomc (multi-sized local crops) or dinotp "
                         "(temporal positives)", choices=MODES)
    photometric: str = _setting(DEFAULT_PHOTOMETRIC, "colour distortions: paper (DINO's jitter, grayscale, "
                                "solarisation) or spectral (gains, noise and blur that keep the spectrum)",
                                choices=PHOTOMETRIC_POLICIES)
    bands: list[str] | None = _setting(None, "bands by name or 1-based index, in model order (default: all)")
    epochs: int = _setting(300, "training epochs")
    batch_size: int = _setting(8, "images per process and step")
    global_size: int = _setting(DEFAULT_GLOBAL_SIZE, "global crop size in pixels")
    local_sizes: list[int] = _setting(DEFAULT_LOCAL_SIZES, "local crop sizes (dinomc, dinotp), one crop per size")
    local_crops_number: int | None = _setting(
        None, "local crops: 96-px crops in dino mode (default 8); fewer than --local-sizes keeps the smallest"
    )
    out_dim: int = _setting(65536, "DINO head output dimension")
    seed: int = _setting(0, "random seed")
    resume: bool = _setting(False, "continue the run saved in --out")
    device: str = _setting("auto", "auto, cpu or cuda", choices=("auto", "cpu", "cuda"))
    precision: str = _setting("fp32", "fp32, bf16 (autocast; fast on recent CPUs) or fp16 (CUDA, with gradient "
                              "scaling)", choices=PRECISIONS)
    num_workers: int = _setting(4, "data loading processes per training process")
    lr: float = _setting(5e-4, "peak learning rate for a total batch of 256 (scaled linearly)")
    min_lr: float = _setting(1e-6, "learning rate at the end of the cosine decay")
    warmup_epochs: int = _setting(10, "linear learning-rate warm-up, at most half the run")
    weight_decay: float = _setting(0.04, "weight decay at the start (cosine schedule)")
    weight_decay_end: float = _setting(0.4, "weight decay at the end")
    momentum_teacher: float = _setting(0.996, "teacher EMA momentum at the start, rising to 1 on a cosine")
    teacher_temp: float = _setting(0.04, "teacher temperature after its warm-up")
    warmup_teacher_temp: float = _setting(0.04, "teacher temperature at the start of its warm-up")
    warmup_teacher_temp_epochs: int = _setting(0, "epochs of linear teacher-temperature warm-up")
    centering: str = _setting("ema", "teacher centring: ema (DINO's running centre) or sinkhorn (DINOv2's balanced "
                              "assignment of each batch to the prototypes)", choices=CENTERINGS)
    clip_grad: float = _setting(3.0, "per-tensor gradient norm clip (0 disables)")
    freeze_last_layer: int = _setting(1, "epochs during which the head's last layer is not trained")
    drop_path_rate: float = _setting(0.1, "stochastic depth of the student ViT")
    window_size: int = _setting(256, "size of the random windows read from large rasters")
    mean: list[float] | None = _setting(None, "per-band mean of reflectance (default: computed from the data)")
    std: list[float] | None = _setting(None, "per-band std of reflectance (default: computed from the data)")

    def check(self) -> None:
        """Refuse settings that cannot work, with a sentence saying how to fix them."""
        if not self.data:
            raise DinoMCError("no data was given; pass raster files or folders with --data")
        if not self.out:
            raise DinoMCError("no output folder was given; pass one with --out")
        if self.mode not in MODES:
            raise DinoMCError(f"unknown mode '{self.mode}'; choose one of {', '.join(MODES)}")
        if self.photometric not in PHOTOMETRIC_POLICIES:
            raise DinoMCError(
                f"unknown photometric policy '{self.photometric}'; choose one of {', '.join(PHOTOMETRIC_POLICIES)}"
            )
        if self.centering not in CENTERINGS:
            raise DinoMCError(f"unknown centring '{self.centering}'; choose one of {', '.join(CENTERINGS)}")
        if self.precision not in PRECISIONS:
            raise DinoMCError(f"unknown precision '{self.precision}'; choose one of {', '.join(PRECISIONS)}")
        for name in ("epochs", "batch_size", "global_size", "out_dim", "window_size"):
            if getattr(self, name) < 1:
                raise DinoMCError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if any(size < 1 for size in self.local_sizes):
            raise DinoMCError(f"--local-sizes must be positive pixel sizes, not {self.local_sizes}")
        if (self.mean is None) != (self.std is None):
            raise DinoMCError("give both --mean and --std, or neither to compute them from the data")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def config_fields() -> list[dataclasses.Field]:
    """The settings, in declaration order (for the CLI)."""
    return list(dataclasses.fields(PretrainConfig))


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings in a YAML file: keys are setting names, with ``-`` or ``_``; unknown keys are refused."""
    try:
        with open(path, encoding="utf-8") as file:
            values = yaml.safe_load(file) or {}
    except OSError as error:
        raise DinoMCError(f"cannot read the configuration file {path} ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise DinoMCError(f"{path} is not valid YAML ({error.__class__.__name__})") from error
    if not isinstance(values, Mapping):
        raise DinoMCError(f"{path} must hold a mapping of setting names to values")
    settings = {str(key).replace("-", "_"): value for key, value in values.items()}
    known = {setting.name for setting in config_fields()}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise DinoMCError(f"{path} sets unknown setting(s) {', '.join(unknown)}; see --help for the names")
    return settings

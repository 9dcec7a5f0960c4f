"""Self-supervised pretraining: DINO, DINO-MC and DINO-TP on rasters with any number of bands.

``augment`` makes the multi-crop views, ``loss`` is DINO's self-distillation loss, ``schedules`` and ``optim``
hold DINO's optimisation details, ``distributed`` the torchrun plumbing, and ``trainer`` the training loop.
"""
from dinomc_core.ssl.augment import MODES, MultiCropAugmentation, crop_specs, global_crops_number, local_crop_sizes
from dinomc_core.ssl.config import PretrainConfig
from dinomc_core.ssl.loss import DINOLoss
from dinomc_core.ssl.schedules import cosine_scheduler, teacher_temperature_schedule
from dinomc_core.ssl.trainer import PretrainResult, pretrain

__all__ = [
    "MODES",
    "DINOLoss",
    "MultiCropAugmentation",
    "PretrainConfig",
    "PretrainResult",
    "cosine_scheduler",
    "crop_specs",
    "global_crops_number",
    "local_crop_sizes",
    "pretrain",
    "teacher_temperature_schedule",
]

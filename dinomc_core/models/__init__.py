"""DINO-MC models: timm backbones for any number of bands, the DINO head, and the ``.dinomc`` model file."""
from dinomc_core.models.backbone import KNOWN_ARCHS, Backbone, create_backbone
from dinomc_core.models.head import DINOHead, MultiCropWrapper
from dinomc_core.models.modelfile import (
    ModelMetadata,
    build_encoder,
    encoder_tensors,
    load_model,
    metadata_for_backbone,
    read_metadata,
    read_model_file,
    save_model_file,
    strip_prefix,
)
from dinomc_core.models.registry import resolve_model_path, shipped_models

__all__ = [
    "KNOWN_ARCHS",
    "Backbone",
    "DINOHead",
    "ModelMetadata",
    "MultiCropWrapper",
    "build_encoder",
    "create_backbone",
    "encoder_tensors",
    "load_model",
    "metadata_for_backbone",
    "read_metadata",
    "read_model_file",
    "resolve_model_path",
    "save_model_file",
    "shipped_models",
    "strip_prefix",
]

"""Import checkpoints in the layout the DINO and DINO-MC authors released.

Their files are ``torch.save`` dicts with ``teacher`` and ``student`` state dicts (or a bare state dict), keys
prefixed with ``module.`` (DDP) and ``backbone.`` (MultiCropWrapper), plus the DINO head (``head.*`` with
weight-normalised ``last_layer.weight_g``/``weight_v``), which an encoder file does not need. DINO's ViT keys are
timm's; torchvision's ResNet keys are timm's ``resnet50``/``wide_resnet50_2`` keys.
"""
from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path

import torch

from dinomc_core.errors import DinoMCError

WRAPPER_PREFIXES = ("module.", "backbone.")
VIT_ARCHS_BY_WIDTH = {192: "vit_tiny", 384: "vit_small", 768: "vit_base"}


def read_official_checkpoint(path: str | os.PathLike, key: str = "teacher") -> dict[str, torch.Tensor]:
    """The backbone weights of an official checkpoint, prefixes and head removed.

    Loads with ``weights_only=True`` (PyTorch's restricted unpickler, which only builds tensors and plain
    containers); ``argparse.Namespace`` is allowed because the official files store their arguments in one.
    """
    path = Path(path)
    if not path.is_file():
        raise DinoMCError(f"the checkpoint {path} does not exist")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise DinoMCError(f"{path.name} is not a PyTorch checkpoint that can be loaded safely ({str(error).splitlines()[0]})") from error
    state = _pick_state_dict(checkpoint, key, path.name)
    return backbone_weights(state)


def _pick_state_dict(checkpoint: object, key: str, name: str) -> dict[str, torch.Tensor]:
    if not isinstance(checkpoint, dict):
        raise DinoMCError(f"{name} does not hold a state dict")
    if key in checkpoint and isinstance(checkpoint[key], dict):
        return checkpoint[key]
    if all(isinstance(value, torch.Tensor) for value in checkpoint.values()):
        return checkpoint
    available = ", ".join(k for k, v in checkpoint.items() if isinstance(v, dict)) or "none"
    raise DinoMCError(f"{name} has no {key!r} weights; choose one of: {available} (--key)")


def backbone_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.``/``backbone.`` prefixes and drop the DINO head and any classifier."""
    weights = {}
    for name, tensor in state.items():
        while name.startswith(WRAPPER_PREFIXES):
            name = name.split(".", 1)[1]
        if name.startswith(("head.", "fc.")):
            continue
        weights[name] = tensor
    if not weights:
        raise DinoMCError("the checkpoint holds no backbone weights")
    return weights


def infer_arch(weights: dict[str, torch.Tensor]) -> tuple[str, int]:
    """The timm architecture name and the number of input bands that fit these backbone weights."""
    if "pos_embed" in weights and "patch_embed.proj.weight" in weights:
        projection = weights["patch_embed.proj.weight"]
        width, in_chans, patch = projection.shape[0], projection.shape[1], projection.shape[-1]
        if width not in VIT_ARCHS_BY_WIDTH:
            raise DinoMCError(f"a ViT of width {width} is not supported; widths {sorted(VIT_ARCHS_BY_WIDTH)} are")
        return f"{VIT_ARCHS_BY_WIDTH[width]}_patch{patch}_224", in_chans
    if "conv1.weight" in weights and "layer4.0.conv1.weight" in weights:
        in_chans = weights["conv1.weight"].shape[1]
        if "layer1.0.conv3.weight" not in weights:
            raise DinoMCError("only bottleneck ResNets (ResNet-50, WRN-50-2) can be imported")
        wide = weights["layer1.0.conv1.weight"].shape[0] == 128
        return ("wide_resnet50_2" if wide else "resnet50"), in_chans
    raise DinoMCError("the checkpoint's weights are neither a ViT nor a ResNet; only ViT-S/8, ViT-S/16, ResNet-50 and WRN-50-2 are supported")

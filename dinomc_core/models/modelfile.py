"""The ``.dinomc`` model file: one zip holding ``metadata.json`` and ``weights.safetensors``, never a pickle.

It carries everything needed to use the weights on a raster: architecture, band names and order, normalisation,
ground sampling distance, tile size, task, classes with colours, the task head's description and provenance.
Weights may be stored in half precision (the shipped models are, to keep the package small); readers always get
float32. Every reader accepts a shipped model's name in place of a path (``dinomc_core.models.registry``).
"""
from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from dinomc_core.atomic import atomic_path
from dinomc_core.errors import DinoMCError
from dinomc_core.models.registry import resolve_model_path

FORMAT_VERSION = 1
SUFFIX = ".dinomc"
METADATA_MEMBER = "metadata.json"
WEIGHTS_MEMBER = "weights.safetensors"
ENCODER_PREFIX = "encoder."
HEAD_PREFIX = "head."
TASKS = ("encoder", "classification", "multilabel", "change")
REQUIRED_KEYS = ("format_version", "arch", "in_chans", "feature_dim", "bands", "normalization", "task")
REDUCED_PRECISIONS = (torch.float16, torch.bfloat16)


@dataclass
class ModelMetadata:
    """What a model file says about its weights; ``normalization`` maps raw values to model input."""

    arch: str
    in_chans: int
    feature_dim: int
    bands: list[str]
    normalization: dict[str, list[float]]
    task: str = "encoder"
    patch_size: int | None = None
    gsd: float | None = None
    tile_size: int = 224
    classes: list[dict[str, str]] | None = None
    head: dict[str, Any] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def class_names(self) -> list[str]:
        return [entry["name"] for entry in self.classes or []]

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "the model file") -> "ModelMetadata":
        """Validate and build metadata; a missing or inconsistent entry is a :class:`DinoMCError`."""
        missing = [key for key in REQUIRED_KEYS if key not in data]
        if missing:
            raise DinoMCError(f"{source} lacks the metadata entries {', '.join(missing)}; re-export it with this version")
        if data["format_version"] > FORMAT_VERSION:
            raise DinoMCError(f"{source} has format version {data['format_version']}; upgrade dinomc to read it")
        known = {f.name for f in dataclasses.fields(cls)}
        metadata = cls(**{key: value for key, value in data.items() if key in known})
        metadata.validate(source)
        return metadata

    def validate(self, source: str = "the model file") -> None:
        """Check that bands, normalisation, task and classes agree with each other."""
        if self.task not in TASKS:
            raise DinoMCError(f"{source} has the unknown task {self.task!r}; expected one of {', '.join(TASKS)}")
        if len(self.bands) != self.in_chans:
            raise DinoMCError(f"{source} names {len(self.bands)} bands for a model of {self.in_chans} input bands")
        for key in ("scale", "mean", "std"):
            values = self.normalization.get(key)
            if values is None or len(values) != self.in_chans:
                raise DinoMCError(f"{source} needs {self.in_chans} normalisation values for {key!r}")
        if self.task in ("classification", "multilabel") and not self.classes:
            raise DinoMCError(f"{source} is a {self.task} model without class names")


def save_model_file(
    path: str | os.PathLike, metadata: ModelMetadata, tensors: dict[str, torch.Tensor], half_precision: bool = False
) -> Path:
    """Write a model file atomically (a temporary file in the same folder, then a rename); ``half_precision``
    stores floating-point weights as float16 (half the size; readers convert them back to float32)."""
    metadata.validate()
    if half_precision:
        tensors = {name: tensor.half() if tensor.is_floating_point() else tensor for name, tensor in tensors.items()}
    path = Path(path)
    if path.suffix != SUFFIX:
        raise DinoMCError(f"model files end in {SUFFIX}; got {path.name}")
    if not path.parent.is_dir():
        raise DinoMCError(f"the folder {path.parent} does not exist; create it first")
    weights = save_safetensors({name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()})
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(METADATA_MEMBER, json.dumps(metadata.to_dict(), indent=2))
        archive.writestr(WEIGHTS_MEMBER, weights)
    return path


def _read_members(path: str | os.PathLike, with_weights: bool) -> tuple[ModelMetadata, dict[str, torch.Tensor]]:
    """Open the zip, check it holds exactly our two members, parse the metadata and (optionally) the weights
    (in float32 whatever their stored precision). ``path`` may be a shipped model's name."""
    path = resolve_model_path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            if members != {METADATA_MEMBER, WEIGHTS_MEMBER}:
                unexpected = sorted(members - {METADATA_MEMBER, WEIGHTS_MEMBER})
                raise DinoMCError(
                    f"{path.name} is not a dinomc model file (it should hold only {METADATA_MEMBER} and "
                    f"{WEIGHTS_MEMBER}{', not ' + ', '.join(unexpected) if unexpected else ''}); "
                    "import foreign checkpoints with python -m dinomc_core.convert"
                )
            raw_metadata = json.loads(archive.read(METADATA_MEMBER))
            tensors = load_safetensors(archive.read(WEIGHTS_MEMBER)) if with_weights else {}
    except (zipfile.BadZipFile, json.JSONDecodeError, SafetensorError, UnicodeDecodeError) as error:
        raise DinoMCError(f"{path.name} is not a readable dinomc model file ({error})") from error
    if not isinstance(raw_metadata, dict):
        raise DinoMCError(f"{path.name} has no metadata object; re-export it with this version")
    tensors = {name: tensor.float() if tensor.dtype in REDUCED_PRECISIONS else tensor for name, tensor in tensors.items()}
    return ModelMetadata.from_dict(raw_metadata, source=path.name), tensors


def read_model_file(path: str | os.PathLike) -> tuple[ModelMetadata, dict[str, torch.Tensor]]:
    """Read and validate a model file (or a shipped model, by name) without unpickling anything."""
    return _read_members(path, with_weights=True)


def read_metadata(path: str | os.PathLike) -> ModelMetadata:
    """Only the validated metadata of a model file (cheap: the weights are not decoded)."""
    return _read_members(path, with_weights=False)[0]


def encoder_tensors(backbone: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The backbone's weights under the ``encoder.`` prefix used in model files."""
    return {ENCODER_PREFIX + name: tensor for name, tensor in backbone.state_dict().items()}


def strip_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under ``prefix``, with the prefix removed (e.g. the head's weights)."""
    return {name[len(prefix) :]: tensor for name, tensor in tensors.items() if name.startswith(prefix)}


def metadata_for_backbone(backbone: torch.nn.Module, **fields: Any) -> ModelMetadata:
    """Metadata with the architecture fields taken from a built backbone."""
    return ModelMetadata(
        arch=backbone.arch,
        in_chans=backbone.in_chans,
        feature_dim=backbone.feature_dim,
        patch_size=backbone.patch_size,
        **fields,
    )


def build_encoder(metadata: ModelMetadata, tensors: dict[str, torch.Tensor], source: str = "the model file"):
    """Rebuild the backbone described by ``metadata`` and load its weights strictly."""
    from dinomc_core.models.backbone import create_backbone

    backbone = create_backbone(metadata.arch, metadata.in_chans)
    weights = strip_prefix(tensors, ENCODER_PREFIX)
    try:
        backbone.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        first_line = str(error).splitlines()[1].strip() if "\n" in str(error) else str(error)
        raise DinoMCError(f"the weights in {source} do not fit a {metadata.arch} with {metadata.in_chans} bands ({first_line})") from error
    backbone.metadata = metadata
    return backbone.eval()


def load_model(path: str | os.PathLike):
    """The encoder of a model file (or a shipped model, by name) as a ``Backbone`` in eval mode, with the file's
    metadata on ``.metadata``."""
    metadata, tensors = read_model_file(path)
    return build_encoder(metadata, tensors, source=resolve_model_path(path).name)

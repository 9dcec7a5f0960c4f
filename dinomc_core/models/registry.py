"""Models shipped inside the package, usable by name wherever a model file is accepted.

A shipped model is a ``.dinomc`` file in ``dinomc_core/models/shipped/``; its name is the file name without the
suffix (``sentinel2-encoder``). :func:`resolve_model_path` is the one place that turns what a user typed (a path or
a name) into a file, and every reader of model files goes through it (``dinomc_core.models.modelfile``). Listing
and shipping are ``python -m dinomc_core.models``.
"""
from __future__ import annotations

import os
from pathlib import Path

from dinomc_core.errors import DinoMCError

SHIPPED_FOLDER = Path(__file__).resolve().parent / "shipped"
SHIPPED_SUFFIX = ".dinomc"


def shipped_models() -> dict[str, Path]:
    """Name -> file of every model shipped with the package, sorted by name."""
    return {path.stem: path for path in sorted(SHIPPED_FOLDER.glob(f"*{SHIPPED_SUFFIX}"))}


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """The model file a user means: an existing file as given, else the shipped model of that name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_models()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    names = ", ".join(shipped) or "none installed"
    raise DinoMCError(
        f"the model {name_or_path} is neither an existing .dinomc file nor a shipped model "
        f"(shipped: {names}); give the path of a model file or one of those names"
    )

"""Pretrain a DINO, DINO-MC or DINO-TP encoder on rasters: ``python -m dinomc_core.pretrain --data ... --out ...``.

Every setting is a flag and a key of the optional ``--config`` YAML file (flags win). Launch with
``torchrun --nproc_per_node N -m dinomc_core.pretrain ...`` to train data-parallel on N GPUs (or CPU processes).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import types
import typing
from typing import Any, Callable, Sequence

from dinomc_core.errors import DinoMCError, run_cli
from dinomc_core.progress import TqdmProgress
from dinomc_core.ssl.config import PretrainConfig, config_fields, read_config_file
from dinomc_core.ssl.trainer import pretrain

TYPE_HINTS = typing.get_type_hints(PretrainConfig)
SETTINGS = {setting.name: setting for setting in config_fields()}


def build_parser() -> argparse.ArgumentParser:
    """One flag per setting of :class:`PretrainConfig`, plus ``--config``."""
    parser = argparse.ArgumentParser(
        prog="python -m dinomc_core.pretrain",
        description="Self-supervised pretraining (DINO, DINO-MC, DINO-TP) of an encoder on rasters with any bands.",
    )
    parser.add_argument("--config", help="YAML file of settings (keys are the flag names); flags override it")
    for setting in config_fields():
        flag = "--" + setting.name.replace("_", "-")
        default = setting.default_factory() if setting.default_factory is not dataclasses.MISSING else setting.default
        help_text = f"{setting.metadata['help']} (default: {default})" if default not in ([], "", None) else \
            setting.metadata["help"]
        options: dict[str, Any] = {"help": help_text, "default": argparse.SUPPRESS}
        if TYPE_HINTS[setting.name] is bool:
            parser.add_argument(flag, action="store_true", **options)
            continue
        converter, is_list = value_type(setting.name)
        options.update(type=converter, nargs="+" if is_list else None, choices=setting.metadata.get("choices"))
        parser.add_argument(flag, **options)
    return parser


def value_type(name: str) -> tuple[Callable[[Any], Any], bool]:
    """The element type of a setting and whether it holds a list (``list[int] | None`` gives ``(int, True)``)."""
    hint = TYPE_HINTS[name]
    if isinstance(hint, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) is list:
        return typing.get_args(hint)[0], True
    return hint, False


def coerce(name: str, value: Any) -> Any:
    """A value converted to the setting's type, or a sentence saying it does not fit.

    Lists may be given as lists or as comma-separated text (``--bands B04,B03,B02``); paths are never split.
    """
    if value is None or TYPE_HINTS[name] is bool:
        return value
    converter, is_list = value_type(name)
    try:
        if not is_list:
            return converter(value)
        items = [str(item) for item in (value if isinstance(value, (list, tuple)) else [value])]
        if not SETTINGS[name].metadata.get("paths"):
            items = [part.strip() for item in items for part in item.split(",") if part.strip()]
        return [converter(item) for item in items]
    except (TypeError, ValueError) as error:
        raise DinoMCError(f"the setting {name} cannot be {value!r} ({error})") from error


def make_config(argv: Sequence[str] | None) -> PretrainConfig:
    """Settings from the YAML file (if any), overridden by the flags given."""
    flags = vars(build_parser().parse_args(argv))
    config_file = flags.pop("config", None)
    settings = read_config_file(config_file) if config_file else {}
    settings.update(flags)
    return PretrainConfig(**{name: coerce(name, value) for name, value in settings.items()})


def main(argv: Sequence[str] | None = None) -> int:
    config = make_config(argv)
    progress = TqdmProgress()
    try:
        result = pretrain(config, progress)
    finally:
        progress.close()
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"final loss {result.final_loss:.4f} after {result.epochs} epochs; encoder written to {result.encoder}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

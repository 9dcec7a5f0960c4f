"""The models shipped with the package: ``python -m dinomc_core.models`` lists them; ``ship`` adds one.

    python -m dinomc_core.models
    python -m dinomc_core.models ship runs/encoder/encoder.dinomc sentinel2-encoder --provenance eval.json \
        --fact compute="2 CPU cores, 30 min"
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from dinomc_core.errors import DinoMCError, run_cli
from dinomc_core.models.modelfile import read_metadata, read_model_file, save_model_file
from dinomc_core.models.registry import SHIPPED_FOLDER, SHIPPED_SUFFIX, shipped_models


def describe(name: str, path: Path) -> str:
    """One line per shipped model: task, architecture, bands, size and the validation figures it records."""
    metadata = read_metadata(path)
    validation = metadata.provenance.get("validation", {})
    metrics = ", ".join(
        f"{key} {value}" for key, value in validation.items() if isinstance(value, (int, float))
    ) or "none recorded"
    return (
        f"{name}: {metadata.task}, {metadata.arch}, {len(metadata.bands)} bands ({' '.join(metadata.bands)}), "
        f"{path.stat().st_size / 1e6:.1f} MB; validation: {metrics}"
    )


def ship(source: Path, name: str, provenance: dict[str, Any]) -> Path:
    """Copy a model file into the package under ``name``, in half precision, with ``provenance`` added."""
    metadata, tensors = read_model_file(source)
    metadata.provenance = {**metadata.provenance, **provenance}
    SHIPPED_FOLDER.mkdir(exist_ok=True)
    return save_model_file(SHIPPED_FOLDER / f"{name}{SHIPPED_SUFFIX}", metadata, tensors, half_precision=True)


def read_provenance(path: Path | None, facts: Sequence[str]) -> dict[str, Any]:
    """The provenance facts to record: a JSON object (e.g. validation metrics) and ``KEY=VALUE`` texts."""
    provenance = read_provenance_file(path) if path else {}
    for fact in facts:
        key, separator, value = fact.partition("=")
        if not separator or not key:
            raise DinoMCError(f"the fact {fact!r} is not KEY=VALUE; write e.g. --fact compute=\"2 CPU cores\"")
        provenance[key] = value
    return provenance


def read_provenance_file(path: Path) -> dict[str, Any]:
    """The JSON object of a provenance file."""
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise DinoMCError(f"cannot read the provenance file {path} ({error}); give a JSON object") from error
    if not isinstance(facts, dict):
        raise DinoMCError(f"the provenance file {path} must hold a JSON object of facts")
    return facts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dinomc_core.models", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    ship_parser = commands.add_parser("ship", help="add a model file to the package, in half precision")
    ship_parser.add_argument("source", type=Path, help="the model file to ship")
    ship_parser.add_argument("name", help="the name users will give (e.g. sentinel2-encoder)")
    ship_parser.add_argument("--provenance", type=Path, help="JSON object of facts added to the metadata's provenance")
    ship_parser.add_argument("--fact", action="append", default=[], metavar="KEY=VALUE",
                             help="one more provenance fact as text (data, compute, ...); repeatable")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "ship":
        path = ship(args.source, args.name, read_provenance(args.provenance, args.fact))
        print(f"shipped {args.name} as {path} ({path.stat().st_size / 1e6:.1f} MB)")
        return 0
    models = shipped_models()
    if not models:
        print(f"no models are shipped in {SHIPPED_FOLDER}")
    for name, path in models.items():
        print(describe(name, path))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

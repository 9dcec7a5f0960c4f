"""Where the worker runs: the Python of an environment that has ``dinomc_core`` (the ``make setup`` venv).

``make qgis-install`` records that Python (and the checkout it came from) in ``worker.json`` beside the plugin; the
Processing setting "Worker Python" overrides it. This module only reads files: it never imports the worker's packages.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

RECORD_PATH = Path(__file__).resolve().parent / "worker.json"
"""Written by ``make qgis-install``: ``{"python": "/abs/.venv/bin/python", "source": "/abs/checkout"}``."""


class WorkerEnvironmentError(Exception):
    """No usable worker Python; the message names the command that fixes it."""


@dataclass(frozen=True)
class WorkerEnvironment:
    """The Python that runs ``python -m dinomc_core.<tool>``, and the checkout whose code it runs and whose ``make``
    sets it up (None when the plugin was not installed by ``make qgis-install``)."""

    python: Path
    source: Path | None = None


def recorded_environment(record: Path = RECORD_PATH) -> WorkerEnvironment | None:
    """What ``make qgis-install`` recorded, or None when the plugin was installed some other way."""
    try:
        content = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(content, dict) or not content.get("python"):
        return None
    source = content.get("source")
    return WorkerEnvironment(Path(content["python"]), Path(source) if source else None)


def fix_command(source: Path | None) -> str:
    """The command that (re)creates the worker environment and records it, quoted for a message."""
    if source is not None:
        return f"`make -C {source} qgis-install`"
    return "`make qgis-install` in the DINO-MC source folder"


def worker_environment(python_setting: str = "", record: Path = RECORD_PATH) -> WorkerEnvironment:
    """The worker Python: the setting when given, else the recorded one; refused with the fix when unusable."""
    recorded = recorded_environment(record)
    source = recorded.source if recorded else None
    if python_setting.strip():
        environment = WorkerEnvironment(Path(python_setting.strip()).expanduser(), source)
    elif recorded is not None:
        environment = recorded
    else:
        raise WorkerEnvironmentError(
            "DINO-MC has no worker environment (the Python that runs the models); run "
            f"{fix_command(None)}, or set Processing > Options > Providers > DINO-MC > Worker Python, then run again"
        )
    if not (environment.python.is_file() and os.access(environment.python, os.X_OK)):
        raise WorkerEnvironmentError(
            f"DINO-MC's worker Python {environment.python} does not exist; run {fix_command(source)} "
            "(or correct Processing > Options > Providers > DINO-MC > Worker Python), then run again"
        )
    return environment


def missing_package_message(environment: WorkerEnvironment, package: str) -> str:
    """One sentence for a worker Python that lacks a package the tools need."""
    return (
        f"DINO-MC's worker Python {environment.python} cannot import {package}; run "
        f"{fix_command(environment.source)} to set up that environment again, then run again"
    )

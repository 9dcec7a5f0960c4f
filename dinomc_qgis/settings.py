"""The provider's Processing setting: which Python runs the worker (empty: the one ``make qgis-install`` recorded)."""
from __future__ import annotations

from processing.core.ProcessingConfig import ProcessingConfig, Setting

from dinomc_qgis.environment import recorded_environment

WORKER_PYTHON = "DINOMC_WORKER_PYTHON"


def add_settings(group: str) -> None:
    """Show the setting under Processing > Options > Providers > ``group``."""
    recorded = recorded_environment()
    hint = f"empty: {recorded.python}, recorded by make qgis-install" if recorded else "empty: none recorded"
    ProcessingConfig.addSetting(Setting(group, WORKER_PYTHON, f"Worker Python ({hint})", "", valuetype=Setting.FILE))
    ProcessingConfig.readSettings()


def remove_settings() -> None:
    ProcessingConfig.removeSetting(WORKER_PYTHON)


def worker_python_setting() -> str:
    """The user's choice of worker Python, or "" for the recorded one."""
    return ProcessingConfig.getSetting(WORKER_PYTHON) or ""

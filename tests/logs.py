"""A progress sink that keeps what a run logs, for tests that check what the user is told."""
from __future__ import annotations

from dinomc_core.progress import SilentProgress


class Log(SilentProgress):
    """Keeps the log lines, in order."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)

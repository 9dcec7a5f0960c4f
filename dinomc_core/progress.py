"""One small progress-and-cancel interface shared by the CLIs (a tqdm bar) and the QGIS plugin (its feedback)."""
from __future__ import annotations

from typing import Protocol

from dinomc_core.errors import CancelledError


class Progress(Protocol):
    """Receives progress and may ask the run to stop."""

    def set_total(self, total: int, description: str = "") -> None: ...

    def advance(self, amount: int = 1) -> None: ...

    def is_cancelled(self) -> bool: ...

    def log(self, message: str) -> None: ...


class SilentProgress:
    """A progress sink that shows nothing and never cancels."""

    def set_total(self, total: int, description: str = "") -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def is_cancelled(self) -> bool:
        return False

    def log(self, message: str) -> None:
        pass


class TqdmProgress:
    """A terminal progress bar for the CLIs (on stderr); log lines go to stdout above it, so stderr holds only errors."""

    def __init__(self, disable: bool = False) -> None:
        self._bar = None
        self._disable = disable

    def set_total(self, total: int, description: str = "") -> None:
        from tqdm import tqdm

        if self._bar is not None:
            self._bar.close()
        self._bar = tqdm(total=total, desc=description, disable=self._disable, dynamic_ncols=True)

    def advance(self, amount: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(amount)

    def is_cancelled(self) -> bool:
        return False

    def log(self, message: str) -> None:
        from tqdm import tqdm

        tqdm.write(message)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def check_cancelled(progress: Progress) -> None:
    """Raise :class:`CancelledError` when the user asked to stop."""
    if progress.is_cancelled():
        raise CancelledError("the run was cancelled; no output was written")

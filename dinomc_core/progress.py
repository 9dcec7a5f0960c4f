"""One small progress-and-cancel interface for the library, and how the CLIs report it.

A CLI shows a tqdm bar (``--progress tty``), nothing (``none``, or ``--quiet``), or, for the QGIS plugin that runs
it as a worker process, JSON lines on stdout (``json``): one object per event, the last one the run's result.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any, Protocol, TextIO

from dinomc_core.errors import CancelledError

PROGRESS_MODES = ("tty", "json", "none")
CANCELLED_MESSAGE = "the run was cancelled; no output was written"


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

    def result(self, payload: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
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

    def result(self, payload: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class JsonProgress:
    """Events as JSON lines for a parent process (the QGIS plugin); SIGTERM is its cancel request.

    Lines: ``{"event": "total", "total": N, "description": D}``, ``{"event": "advance", "amount": N}``,
    ``{"event": "log", "message": M}`` and, last, ``{"event": "result", ...}``. SIGTERM raises
    :class:`CancelledError` in the main thread, so the run unwinds through its atomic writes and leaves no output.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        signal.signal(signal.SIGTERM, _cancel_on_signal)

    def _emit(self, event: str, **fields: Any) -> None:
        self._stream.write(json.dumps({"event": event, **fields}, default=str) + "\n")
        self._stream.flush()

    def set_total(self, total: int, description: str = "") -> None:
        self._emit("total", total=total, description=description)

    def advance(self, amount: int = 1) -> None:
        self._emit("advance", amount=amount)

    def is_cancelled(self) -> bool:
        return False

    def log(self, message: str) -> None:
        self._emit("log", message=message)

    def result(self, payload: dict[str, Any]) -> None:
        self._emit("result", **payload)

    def close(self) -> None:
        self._stream.flush()


def _cancel_on_signal(signum: int, frame: object) -> None:
    raise CancelledError(CANCELLED_MESSAGE)


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """``--progress tty|json|none`` and its shorthand ``--quiet`` (= none)."""
    parser.add_argument("--progress", choices=PROGRESS_MODES, default="tty",
                        help="tty: a progress bar; json: JSON lines on stdout, the last one the result (for the "
                        "QGIS plugin); none: nothing")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (same as --progress none)")


def progress_from_arguments(args: argparse.Namespace) -> SilentProgress | TqdmProgress | JsonProgress:
    """The progress sink that ``--progress``/``--quiet`` ask for."""
    if args.progress == "json":
        return JsonProgress()
    return TqdmProgress(disable=args.quiet or args.progress == "none")


def check_cancelled(progress: Progress) -> None:
    """Raise :class:`CancelledError` when the user asked to stop."""
    if progress.is_cancelled():
        raise CancelledError(CANCELLED_MESSAGE)

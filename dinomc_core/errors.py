"""User-facing errors and the one place where CLIs turn them into a message and an exit code."""
from __future__ import annotations

import sys
from typing import Callable, Sequence


class DinoMCError(Exception):
    """Bad input or a failed run, described in one sentence a user can act on (never a traceback)."""


class CancelledError(DinoMCError):
    """The user cancelled the run (a progress callback said so); no output is left behind."""


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a CLI ``main`` and turn a :class:`DinoMCError` or Ctrl-C into one line on stderr and a non-zero code."""
    try:
        return int(main(argv) or 0)
    except DinoMCError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130

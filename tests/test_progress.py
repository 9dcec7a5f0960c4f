"""Progress sinks and the CLIs' ``--progress`` option: JSON lines for the QGIS plugin's worker, SIGTERM as cancel."""
from __future__ import annotations

import argparse
import io
import json
import os
import signal
from pathlib import Path

import pytest

from dinomc_core.errors import CancelledError
from dinomc_core.progress import JsonProgress, TqdmProgress, add_progress_argument, progress_from_arguments


def parsed(arguments: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_progress_argument(parser)
    return parser.parse_args(arguments)


def test_json_progress_writes_one_object_per_line_and_the_result_last():
    stream = io.StringIO()
    progress = JsonProgress(stream)
    progress.set_total(4, "tiles")
    progress.advance(3)
    progress.log("half way")
    progress.result({"outputs": {"classes": Path("/maps/classes.tif")}, "percent": 12.5})
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert events == [
        {"event": "total", "total": 4, "description": "tiles"},
        {"event": "advance", "amount": 3},
        {"event": "log", "message": "half way"},
        {"event": "result", "outputs": {"classes": "/maps/classes.tif"}, "percent": 12.5},
    ]


def test_sigterm_cancels_a_json_run():
    previous = signal.getsignal(signal.SIGTERM)
    try:
        JsonProgress(io.StringIO())
        with pytest.raises(CancelledError, match="cancelled; no output was written"):
            os.kill(os.getpid(), signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize(
    ("arguments", "kind", "disabled"),
    [([], TqdmProgress, False), (["--quiet"], TqdmProgress, True), (["--progress", "none"], TqdmProgress, True)],
)
def test_progress_option_picks_the_sink(arguments, kind, disabled):
    progress = progress_from_arguments(parsed(arguments))
    assert isinstance(progress, kind) and progress._disable is disabled


def test_progress_json_picks_json_lines():
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert isinstance(progress_from_arguments(parsed(["--progress", "json"])), JsonProgress)
    finally:
        signal.signal(signal.SIGTERM, previous)

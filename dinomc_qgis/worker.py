"""Run one ``python -m dinomc_core.<tool> ... --progress json`` worker and relay it to a Processing feedback.

The models run in their own process because torch, timm, rasterio and shapely cannot share QGIS's process (native
library clashes: a crash on first use next to Mesa, empty polygons from a second GEOS). The worker prints one JSON
object per line (progress, log, and last the result); its stderr is kept for the error message. Cancelling sends
SIGTERM to the worker's process group (the worker unwinds through its atomic writes), then SIGKILL after a grace.
"""
from __future__ import annotations

import collections
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import threading
from typing import IO, Any

from qgis.core import QgsProcessingException, QgsProcessingFeedback

from dinomc_qgis.environment import WorkerEnvironment, missing_package_message

CANCEL_GRACE_SECONDS = 3.0
"""How long a cancelled worker may take to unwind before it is killed."""
POLL_SECONDS = 0.1
LOG_TAIL_LINES = 15
MISSING_MODULE = re.compile(r"No module named '?([\w.]+)'?")


class WorkerRun:
    """One worker process: its events drive ``feedback``; :meth:`wait` returns the result or raises one sentence."""

    def __init__(self, environment: WorkerEnvironment, module: str, arguments: list[str], feedback: QgsProcessingFeedback) -> None:
        self.environment = environment
        self.feedback = feedback
        self.command = [str(environment.python), "-m", module, *arguments, "--progress", "json"]
        self.result: dict[str, Any] | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        self._total = 0
        self._done = 0
        self._lines: queue.Queue[tuple[str, str | None]] = queue.Queue()

    def wait(self) -> dict[str, Any]:
        """Run the worker to its end (or to a cancel) and return its result object."""
        self.feedback.pushCommandInfo(shlex.join(self.command))
        try:
            process = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, encoding="utf-8", errors="replace", start_new_session=True, env=worker_variables(self.environment),
            )
        except OSError as error:
            raise QgsProcessingException(f"DINO-MC could not start its worker {self.environment.python}: {error}") from error
        readers = [self._start_reader(process.stdout, "stdout"), self._start_reader(process.stderr, "stderr")]
        open_streams = len(readers)
        while open_streams:
            if self.feedback.isCanceled():
                stop_process_group(process)
                raise QgsProcessingException("the run was cancelled; no output was written")
            try:
                stream, line = self._lines.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if line is None:
                open_streams -= 1
            elif stream == "stdout":
                self._handle_stdout(line)
            else:
                self._handle_stderr(line)
        code = process.wait()
        for reader in readers:
            reader.join()
        if code != 0:
            raise QgsProcessingException(self._failure_message(code))
        if self.result is None:
            raise QgsProcessingException(self._failure_message(code, "finished without a result"))
        return self.result

    def _start_reader(self, stream: IO[str], name: str) -> threading.Thread:
        """Lines of one pipe into the queue (None at its end), so the Processing thread can poll for cancel."""

        def read() -> None:
            for line in stream:
                self._lines.put((name, line.rstrip("\n")))
            self._lines.put((name, None))

        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        return thread

    def _handle_stdout(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict) or "event" not in event:
            self.feedback.pushConsoleInfo(line)
            return
        kind = event.pop("event")
        if kind == "total":
            self._total, self._done = max(int(event.get("total", 0)), 0), 0
            if event.get("description"):
                self.feedback.setProgressText(event["description"])
            self.feedback.setProgress(0)
        elif kind == "advance":
            self._done += int(event.get("amount", 1))
            if self._total:
                self.feedback.setProgress(min(100.0, 100.0 * self._done / self._total))
        elif kind == "log":
            self.feedback.pushInfo(str(event.get("message", "")))
        elif kind == "result":
            self.result = event

    def _handle_stderr(self, line: str) -> None:
        if line.strip():
            self.stderr_tail.append(line)
            self.feedback.pushConsoleInfo(line)

    def _failure_message(self, code: int, what: str = "") -> str:
        """The worker's own one-sentence error, or one sentence of ours with the tail of its log."""
        errors = [line for line in self.stderr_tail if line.startswith("error: ")]
        if errors:
            return errors[-1][len("error: "):]
        for line in reversed(self.stderr_tail):
            missing = MISSING_MODULE.search(line)
            if missing:
                return missing_package_message(self.environment, missing.group(1).split(".")[0])
        what = what or (f"was killed by signal {signal.Signals(-code).name}" if code < 0 else f"stopped with exit code {code}")
        tail = "\n".join(self.stderr_tail) or "(its log is empty)"
        return f"DINO-MC's worker process {what}; the end of its log:\n{tail}"


def worker_variables(environment: WorkerEnvironment) -> dict[str, str]:
    """QGIS's environment, with the recorded checkout first on PYTHONPATH: the worker runs the plugin's own version."""
    variables = dict(os.environ)
    if environment.source is not None:
        variables["PYTHONPATH"] = os.pathsep.join(filter(None, [str(environment.source), variables.get("PYTHONPATH")]))
    return variables


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM to the worker's process group, SIGKILL if it has not ended after the grace period."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sent)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=CANCEL_GRACE_SECONDS)
            break
        except subprocess.TimeoutExpired:
            continue
    process.wait()


def run_worker(environment: WorkerEnvironment, module: str, arguments: list[str], feedback: QgsProcessingFeedback) -> dict[str, Any]:
    """Run ``python -m module arguments --progress json`` in ``environment`` and return its result object."""
    return WorkerRun(environment, module, arguments, feedback).wait()

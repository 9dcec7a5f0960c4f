"""``dinomc_core.progress.Progress`` over a Processing feedback: the toolbox's progress bar and cancel button."""
from __future__ import annotations

from qgis.core import QgsProcessingFeedback


class FeedbackProgress:
    """Drives ``feedback``'s progress (0-100 %) and passes its cancel request to the engine."""

    def __init__(self, feedback: QgsProcessingFeedback) -> None:
        self._feedback = feedback
        self._total = 0
        self._done = 0

    def set_total(self, total: int, description: str = "") -> None:
        self._total, self._done = max(total, 0), 0
        if description:
            self._feedback.setProgressText(description)
        self._feedback.setProgress(0)

    def advance(self, amount: int = 1) -> None:
        self._done += amount
        if self._total:
            self._feedback.setProgress(min(100.0, 100.0 * self._done / self._total))

    def is_cancelled(self) -> bool:
        return self._feedback.isCanceled()

    def log(self, message: str) -> None:
        self._feedback.pushInfo(message)

"""Thresholds that split a change magnitude into changed and unchanged, from its histogram.

Change is usually rare (0.3 to 4 % of the pixels of an OSCD city), so the magnitude's histogram is one large
unchanged mode with a long tail. Otsu's method maximises the between-class variance and, on such a histogram,
cuts into the unchanged mode (the demo's Otsu marked 92 % of bercy as changed). Minimum-error thresholding
(Kittler and Illingworth 1986) fits a Gaussian to each side and picks the threshold that minimises the
classification error of that mixture; it follows the rare class's own spread, so it holds when change is rare.
Users can also give the threshold itself, or the share of the area they expect to have changed.
"""
from __future__ import annotations

import numpy as np

from dinomc_core.errors import DinoMCError

THRESHOLD_METHODS = ("minimum-error", "otsu")


class Histogram:
    """Counts of values in fixed bins, accumulated strip by strip (for a threshold over a whole raster)."""

    def __init__(self, low: float, high: float, bins: int) -> None:
        self.edges = np.linspace(low, high, bins + 1)
        self.counts = np.zeros(bins, dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        self.counts += np.histogram(np.clip(values, self.edges[0], self.edges[-1]), bins=self.edges)[0]

    @property
    def centres(self) -> np.ndarray:
        return (self.edges[:-1] + self.edges[1:]) / 2

    def _check_not_empty(self) -> None:
        if self.counts.sum() == 0:
            raise DinoMCError("the two images have no valid pixel in common, so no change threshold can be found")

    def _sides(self) -> tuple[np.ndarray, ...]:
        """Weight, mean and variance below and above each inner bin edge."""
        counts, centres = self.counts.astype(np.float64), self.centres
        weight_low = np.cumsum(counts)[:-1]
        weight_high = counts.sum() - weight_low
        sum_low, square_low = np.cumsum(counts * centres)[:-1], np.cumsum(counts * centres ** 2)[:-1]
        mean_low = sum_low / np.maximum(weight_low, 1)
        mean_high = (np.sum(counts * centres) - sum_low) / np.maximum(weight_high, 1)
        variance_low = square_low / np.maximum(weight_low, 1) - mean_low ** 2
        variance_high = (np.sum(counts * centres ** 2) - square_low) / np.maximum(weight_high, 1) - mean_high ** 2
        return weight_low, weight_high, mean_low, mean_high, variance_low, variance_high

    def otsu(self) -> float:
        """Otsu's threshold: the bin edge that maximises the between-class variance of the two sides.

        When a gap between the two populations leaves a plateau of equally good edges, its middle is taken.
        """
        self._check_not_empty()
        weight_low, weight_high, mean_low, mean_high, _, _ = self._sides()
        between = weight_low * weight_high * (mean_low - mean_high) ** 2
        best = np.flatnonzero(between >= between.max() * (1 - 1e-9))
        return float(self.edges[1:-1][best[len(best) // 2]])

    def minimum_error(self) -> float:
        """Kittler and Illingworth's minimum-error threshold, searched above the median (change is the minority).

        Criterion: ``P1 ln s1 + P2 ln s2 - P1 ln P1 - P2 ln P2`` (P: side weights, s: side standard deviations);
        both sides need a spread of at least one bin, so a lone spike cannot pass for a class.
        """
        self._check_not_empty()
        weight_low, weight_high, _, _, variance_low, variance_high = self._sides()
        total = self.counts.sum()
        p_low, p_high = weight_low / total, weight_high / total
        floor = (self.edges[1] - self.edges[0]) ** 2
        usable = (p_high > 0) & (p_low >= 0.5) & (variance_low >= floor) & (variance_high >= floor)
        if not usable.any():
            return self.otsu()
        with np.errstate(divide="ignore", invalid="ignore"):
            criterion = (p_low * 0.5 * np.log(variance_low) + p_high * 0.5 * np.log(variance_high)
                         - p_low * np.log(p_low) - p_high * np.log(p_high))
        criterion[~usable] = np.inf
        return float(self.edges[1:-1][int(np.argmin(criterion))])

    def share_threshold(self, share: float) -> float:
        """The value above which ``share`` (0 to 1) of the counted pixels lie: an expected changed area."""
        self._check_not_empty()
        if not 0.0 < share < 1.0:
            raise DinoMCError(f"the expected change share must be between 0 and 1 (e.g. 0.05 for 5 %), not {share}")
        above = np.cumsum(self.counts[::-1])[::-1] / self.counts.sum()
        index = int(np.flatnonzero(above >= share)[-1])
        return float(self.edges[index])

    def threshold(self, method: str) -> float:
        """The threshold of ``method`` (one of ``THRESHOLD_METHODS``)."""
        if method == "minimum-error":
            return self.minimum_error()
        if method == "otsu":
            return self.otsu()
        raise DinoMCError(f"unknown threshold method {method!r}; use one of {', '.join(THRESHOLD_METHODS)}")

"""Change thresholds from a histogram: Otsu, minimum error when change is rare, an expected share."""
from __future__ import annotations

import numpy as np
import pytest

from dinomc_core.downstream.thresholds import Histogram
from dinomc_core.errors import DinoMCError


def rare_change(share: float, seed: int = 0) -> Histogram:
    """Gamma-shaped unchanged magnitudes around 1 and a small, wider changed population around 5."""
    rng = np.random.default_rng(seed)
    total = 200_000
    changed = int(total * share)
    values = np.concatenate([rng.gamma(8, 1 / 8, total - changed), rng.normal(5, 1, changed)])
    histogram = Histogram(0, 32, 8192)
    histogram.add(values)
    return histogram


def test_minimum_error_holds_when_change_is_rare_and_otsu_does_not_always():
    for share in (0.01, 0.03, 0.1):
        threshold = rare_change(share).minimum_error()
        assert 2.0 < threshold < 4.0, (share, threshold)


def test_share_threshold_marks_the_expected_area():
    histogram = rare_change(0.03)
    threshold = histogram.share_threshold(0.05)
    above = histogram.counts[histogram.edges[:-1] >= threshold].sum() / histogram.counts.sum()
    assert above == pytest.approx(0.05, abs=0.002)
    with pytest.raises(DinoMCError, match="between 0 and 1"):
        histogram.share_threshold(5)


def test_unknown_method_and_empty_histogram_are_sentences():
    with pytest.raises(DinoMCError, match="unknown threshold method"):
        rare_change(0.01).threshold("magic")
    with pytest.raises(DinoMCError, match="no valid pixel"):
        Histogram(0, 1, 10).minimum_error()

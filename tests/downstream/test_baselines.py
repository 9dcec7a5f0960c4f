"""Baselines without an encoder: per-band means, change vector analysis with Otsu."""
from __future__ import annotations

import numpy as np
import torch

from dinomc_core.data.oscd import list_cities, read_city
from dinomc_core.downstream.baselines import (
    GaussianMaximumLikelihood,
    band_mean_features,
    change_vector_magnitude,
    otsu_threshold,
)
from dinomc_core.downstream.evaluation import change_metrics


def test_otsu_splits_two_modes():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(1.0, 0.1, 5000), rng.normal(3.0, 0.1, 500)])
    assert 1.3 < otsu_threshold(values) < 2.7


def test_change_vector_ignores_scene_wide_brightening():
    before = np.random.default_rng(0).integers(500, 1500, (3, 20, 20)).astype(np.uint16)
    after = before * 2
    after[:, 5, 5] = 0
    magnitude = change_vector_magnitude(before, after)
    assert magnitude.argmax() == 5 * 20 + 5 and np.median(magnitude) < 0.2


def test_band_means_of_a_dataset():
    dataset = [(torch.full((2, 4, 4), float(i)), torch.tensor(i)) for i in range(3)]
    features, targets = band_mean_features(dataset)
    assert features.tolist() == [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]] and targets.tolist() == [0, 1, 2]


def test_cva_on_a_real_city_finds_some_change(shared_data):
    city = next(c for c in list_cities(shared_data / "oscd") if c.name == "rennes")
    pair = read_city(city, ["B02", "B03", "B04", "B08"])
    magnitude = change_vector_magnitude(pair.before, pair.after)
    metrics = change_metrics([pair], [(magnitude >= otsu_threshold(magnitude)).astype(np.float32)])
    assert metrics["recall"] > 0.1 and 0.0 < metrics["precision"] < 1.0


def test_maximum_likelihood_separates_classes_by_their_covariance():
    rng = np.random.default_rng(0)
    # same mean, different spreads: only a classifier with class covariances tells them apart
    narrow, wide = rng.normal(0, 0.1, (500, 3)), rng.normal(0, 2.0, (500, 3))
    classifier = GaussianMaximumLikelihood().fit(np.concatenate([narrow, wide]), np.repeat([0, 1], 500), 2)
    assert (classifier.predict(rng.normal(0, 0.1, (200, 3))) == 0).mean() > 0.95
    assert (classifier.predict(rng.normal(0, 2.0, (200, 3))) == 1).mean() > 0.8

"""Labelled pixels for per-pixel heads: balanced sampling, hold-out of whole shapes, windows around the pixels."""
from __future__ import annotations

import numpy as np
import pytest

from dinomc_core.data.eurosat import load_eurosat
from dinomc_core.data.pixel_samples import (
    balanced_subsample,
    cover_pixels_with_windows,
    holdout_shapes,
    pixels_from_chips,
    pixels_from_label_array,
)
from dinomc_core.errors import DinoMCError


def test_whole_shapes_are_held_out_never_parts_of_them():
    rng = np.random.default_rng(0)
    shape = np.repeat(np.arange(8), 50)
    target = (shape >= 4).astype(np.int64)
    is_val, notes = holdout_shapes(target, shape, np.arange(400), ["a", "b"], 0.25, rng)
    assert not notes
    for shape_id in range(8):
        assert len(set(is_val[shape == shape_id])) == 1  # a shape is all training or all validation
    assert is_val[target == 0].sum() == is_val[target == 1].sum() == 50


def test_a_lone_shape_is_split_by_rows_and_the_split_says_so():
    target = np.zeros(100, np.int64)
    rows = np.arange(100)
    is_val, notes = holdout_shapes(target, np.zeros(100, np.int64), rows, ["water"], 0.25, np.random.default_rng(0))
    assert is_val.sum() == 25 and rows[is_val].min() == 75
    assert notes and "water was drawn as one shape" in notes[0]


def test_subsample_is_balanced_and_capped():
    target = np.array([0] * 1000 + [1] * 10)
    is_val = np.zeros(1010, bool)
    chosen = balanced_subsample(target, is_val, 2, np.random.default_rng(0), max_train=100, max_val=10)
    assert np.bincount(target[chosen]).tolist() == [100, 10]


def test_windows_hold_each_pixel_in_their_middle_and_stay_inside():
    rows = np.array([0, 5, 130, 299, 150])
    cols = np.array([0, 250, 130, 10, 299])
    windows, image, row, col = cover_pixels_with_windows(rows, cols, 300, 300, 128)
    for index, window in enumerate(windows):
        assert 0 <= window.row_off <= 300 - 128 and 0 <= window.col_off <= 300 - 128
    assert ((row >= 0) & (row < 128) & (col >= 0) & (col < 128)).all()
    # back to raster coordinates
    offsets = np.array([[w.row_off, w.col_off] for w in windows])[image]
    assert (offsets[:, 0] + row == rows).all() and (offsets[:, 1] + col == cols).all()
    small, _, _, _ = cover_pixels_with_windows(np.array([3]), np.array([4]), 50, 60, 128)
    assert (small[0].height, small[0].width) == (50, 60)


def test_pixels_from_a_real_raster_and_its_errors(shared_data):
    landsat = shared_data / "landsat_rgb" / "RGB.byte.tif"
    labels = np.zeros((718, 791), np.int64)
    shapes = np.zeros_like(labels)
    labels[100:150, 300:350], shapes[100:150, 300:350] = 1, 1
    labels[200:250, 300:350], shapes[200:250, 300:350] = 1, 2
    labels[400:450, 300:350], shapes[400:450, 300:350] = 2, 3
    samples = pixels_from_label_array(landsat, labels, shapes, ["water", "forest"], window_size=128)
    assert samples.band_names == ["red", "green", "blue"] and len(samples) == 2500 + 1500 + 2500  # water: 1 of 2 shapes held out, capped
    raw, valid = samples.read_image(int(samples.image[0]))
    assert raw.shape == (3, 128, 128) and valid.shape == (128, 128)
    assert set(np.unique(samples.shape[samples.is_val & (samples.target == 0)])) in ({1}, {2})
    with pytest.raises(DinoMCError, match="forest have no labelled pixel"):
        pixels_from_label_array(landsat, np.where(labels == 2, 0, labels), shapes, ["water", "forest"])
    with pytest.raises(DinoMCError, match="no labelled pixel falls inside"):
        pixels_from_label_array(landsat, np.zeros_like(labels), shapes, ["water"])


def test_pixels_from_real_chips_use_the_shipped_split(shared_data):
    chips = load_eurosat(shared_data / "eurosat_ms")
    samples = pixels_from_chips(chips, per_chip=16)
    assert samples.images == 80 and len(samples) == 80 * 16
    assert samples.is_val.sum() == 20 * 16 and samples.classes == chips.classes
    raw, valid = samples.read_image(0)
    assert raw.shape == (13, 64, 64) and valid.all()

"""Labelled pixels for per-pixel heads: balanced sampling, folds of whole shapes, windows around the pixels."""
from __future__ import annotations

import numpy as np
import pytest

from dinomc_core.data.eurosat import load_eurosat
from dinomc_core.data.pixel_samples import (
    balanced_subsample,
    cover_pixels_with_windows,
    NEVER_HELD_OUT,
    pixels_from_chips,
    pixels_from_label_array,
    shape_folds,
)
from dinomc_core.errors import DinoMCError


def test_every_shape_is_held_out_in_one_fold_never_parts_of_it():
    shape = np.repeat(np.arange(9), 50)
    target = (shape >= 3).astype(np.int64)  # class a: 3 shapes, class b: 6
    fold, notes = shape_folds(target, shape, np.arange(450), ["a", "b"], np.random.default_rng(0))
    assert not notes and set(fold.tolist()) == {0, 1, 2, 3, 4}  # as many folds as b's shapes, at most 5
    for shape_id in range(9):
        assert len(set(fold[shape == shape_id])) == 1  # a shape is held out whole
    assert sorted(set(fold[target == 0].tolist())) == [0, 1, 2]  # a's 3 shapes in 3 different folds
    assert np.bincount(fold[target == 1]).tolist() == [100, 50, 50, 50, 50]


def test_a_lone_shape_is_split_by_rows_and_the_split_says_so():
    target = np.zeros(100, np.int64)
    rows = np.arange(100)
    fold, notes = shape_folds(target, np.zeros(100, np.int64), rows, ["water"], np.random.default_rng(0))
    assert (fold == 0).sum() == 25 and rows[fold == 0].min() == 75 and (fold[:75] == NEVER_HELD_OUT).all()
    assert notes and "water was drawn as one shape" in notes[0]


def test_subsample_is_balanced_and_capped():
    target = np.array([0] * 1000 + [1] * 10)
    chosen = balanced_subsample(target, 2, np.random.default_rng(0), cap=100)
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
    assert samples.band_names == ["red", "green", "blue"] and len(samples) == 4500 + 2500  # water capped
    raw, valid = samples.read_image(int(samples.image[0]))
    assert raw.shape == (3, 128, 128) and valid.shape == (128, 128)
    water = samples.target == 0
    assert {int(samples.fold[water & (samples.shape == shape_id)].max()) for shape_id in (1, 2)} == {0, 1}
    assert samples.notes == ["class forest was drawn as one shape, so it is validated on the last rows of that shape "
                             "(draw two or more shapes per class for an honest accuracy)"]
    with pytest.raises(DinoMCError, match="forest have no labelled pixel"):
        pixels_from_label_array(landsat, np.where(labels == 2, 0, labels), shapes, ["water", "forest"])
    with pytest.raises(DinoMCError, match="no labelled pixel falls inside"):
        pixels_from_label_array(landsat, np.zeros_like(labels), shapes, ["water"])


def test_pixels_from_real_chips_use_the_shipped_split(shared_data):
    chips = load_eurosat(shared_data / "eurosat_ms")
    samples = pixels_from_chips(chips, per_chip=16)
    assert samples.images == 80 and len(samples) == 80 * 16
    assert samples.held_out.sum() == (samples.fold == 0).sum() == 20 * 16 and samples.classes == chips.classes
    raw, valid = samples.read_image(0)
    assert raw.shape == (13, 64, 64) and valid.all()

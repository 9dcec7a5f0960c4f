"""Tile grid coverage and alignment, blending weights, reflect padding: pure maths, no I/O."""
from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window

from dinomc_core.errors import DinoMCError
from dinomc_core.inference.tiling import blend_weights, clip_window, make_grid, reflect_pad


@pytest.mark.parametrize(("height", "width"), [(1, 1), (37, 300), (256, 256), (1000, 613)])
def test_grid_covers_every_pixel_with_full_tiles(height: int, width: int) -> None:
    grid = make_grid(height, width, tile_size=128, overlap=32, multiple=16)
    covered = np.zeros((height, width), dtype=int)
    for _, _, window in grid.windows():
        inside = clip_window(window, height, width)
        assert inside.width > 0 and inside.height > 0
        covered[inside.row_off : inside.row_off + inside.height, inside.col_off : inside.col_off + inside.width] += 1
    assert covered.min() >= 1
    assert len(grid) == grid.n_rows * grid.n_cols


def test_grid_is_aligned_on_the_model_multiple() -> None:
    grid = make_grid(500, 500, tile_size=100, overlap=20, multiple=16)
    assert grid.tile % 16 == 0 and grid.stride % 16 == 0 and grid.margin % 16 == 0
    assert all(window.col_off % 16 == 0 and window.row_off % 16 == 0 for _, _, window in grid.windows())


def test_raster_smaller_than_a_tile_gets_one_tile() -> None:
    grid = make_grid(10, 7, tile_size=64, overlap=16)
    assert len(grid) == 1


def test_scaled_grid_counts_output_cells() -> None:
    grid = make_grid(100, 130, tile_size=64, overlap=32, multiple=16).scaled(16)
    assert (grid.tile, grid.stride, grid.margin, grid.height, grid.width) == (4, 2, 1, 7, 9)


def test_overlap_must_be_smaller_than_the_tile() -> None:
    with pytest.raises(DinoMCError, match="overlap"):
        make_grid(100, 100, tile_size=32, overlap=32)


def test_facing_ramps_add_up_to_one() -> None:
    tile, overlap = 64, 16
    ramp = blend_weights(tile, overlap)[tile // 2]
    stride = tile - overlap
    total = ramp[stride:] + ramp[:overlap]
    np.testing.assert_allclose(total, 1.0, atol=2e-6)
    assert ramp[tile // 2] == 1.0 and ramp[0] < 1e-3


def test_no_overlap_means_uniform_weights() -> None:
    assert np.all(blend_weights(32, 0) == 1.0)


def test_reflect_pad_fills_the_tile_by_reflection() -> None:
    array = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    window = Window(-2, -1, 8, 6)
    padded = reflect_pad(array, window, clip_window(window, 3, 4))
    assert padded.shape == (1, 6, 8)
    np.testing.assert_array_equal(padded[0, 1:4, 2:6], array[0])
    assert padded[0, 1, 1] == array[0, 0, 1] and padded[0, 0, 2] == array[0, 1, 0]

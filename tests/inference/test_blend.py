"""The strip blender: rows come out once, in order, normalised; nodata pixels come out invalid."""
from __future__ import annotations

import numpy as np

from dinomc_core.inference.blend import StripBlender
from dinomc_core.inference.tiling import make_grid


def blend(grid, predict, valid=lambda window: np.ones((window.height, window.width), bool), channels=2):
    rows = []
    blender = StripBlender(grid, channels, lambda first, values, ok: rows.append((first, values.copy(), ok.copy())))
    for row, col, window in grid.windows():
        blender.add(row, col, predict(window), valid(window))
    blender.finish()
    return rows


def test_rows_arrive_once_in_order_and_constant_stays_constant() -> None:
    grid = make_grid(157, 203, tile_size=48, overlap=16)
    rows = blend(grid, lambda window: np.full((2, 48, 48), 3.5, np.float32))
    firsts = [first for first, _, _ in rows]
    assert firsts[0] == 0 and all(b == a + rows[i][1].shape[1] for i, (a, b) in enumerate(zip(firsts, firsts[1:])))
    values = np.concatenate([values for _, values, _ in rows], axis=1)
    assert values.shape == (2, 157, 203)
    np.testing.assert_allclose(values, 3.5, rtol=1e-6)


def test_position_dependent_predictions_are_reproduced() -> None:
    grid = make_grid(90, 70, tile_size=32, overlap=8)

    def ramp(window):
        rows, cols = np.mgrid[0:32, 0:32]
        return np.stack([rows + window.row_off, cols + window.col_off]).astype(np.float32)

    values = np.concatenate([values for _, values, _ in blend(grid, ramp)], axis=1)
    expected = np.stack(np.mgrid[0:90, 0:70]).astype(np.float32)
    np.testing.assert_allclose(values, expected, atol=1e-3)


def test_invalid_pixels_and_skipped_tiles_come_out_invalid() -> None:
    grid = make_grid(64, 64, tile_size=32, overlap=8)
    nodata = np.zeros((64, 64), bool)
    nodata[:20, :20] = True

    def valid(window):
        out = np.ones((32, 32), bool)
        rows = slice(max(window.row_off, 0), window.row_off + 32)
        cols = slice(max(window.col_off, 0), window.col_off + 32)
        part = ~nodata[rows, cols]
        out[rows.start - window.row_off : rows.start - window.row_off + part.shape[0],
            cols.start - window.col_off : cols.start - window.col_off + part.shape[1]] = part
        return out

    rows = blend(grid, lambda window: None if window.row_off < 0 and window.col_off < 0 else np.ones((2, 32, 32), np.float32), valid)
    ok = np.concatenate([ok for _, _, ok in rows])
    np.testing.assert_array_equal(ok, ~nodata)

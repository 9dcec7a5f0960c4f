"""Weighted blending of overlapping tile predictions in a buffer one tile tall, never a full-raster accumulator.

Tiles arrive row by row. When the first tile of grid row ``r + 1`` arrives, no later tile touches the raster rows
above that row's start, so those rows are divided by their accumulated weight and handed on; the buffer then
slides down by one stride. Memory is ``channels x tile x width`` floats whatever the raster's height.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from dinomc_core.inference.tiling import TileGrid, blend_weights

RowSink = Callable[[int, np.ndarray, np.ndarray], None]
"""Receives ``(first_row, values (C, h, width) float32, valid (h, width) bool)`` for consecutive finished rows."""


class StripBlender:
    """Accumulates ``prediction x weight`` and ``weight`` for the rows of the current tile row."""

    def __init__(self, grid: TileGrid, channels: int, sink: RowSink) -> None:
        self._grid = grid
        self._sink = sink
        self._weights = blend_weights(grid.tile, grid.overlap)
        padded_width = (grid.n_cols - 1) * grid.stride + grid.tile
        self._sum = np.zeros((channels, grid.tile, padded_width), dtype=np.float32)
        self._weight_sum = np.zeros((grid.tile, padded_width), dtype=np.float32)
        self._top = grid.row_start(0)
        self._row = 0

    def add(self, row: int, col: int, prediction: np.ndarray | None, valid: np.ndarray) -> None:
        """Blend one tile: ``prediction`` (C, tile, tile; overwritten), or None for a tile without any valid pixel."""
        while self._row < row:
            self._flush(self._grid.row_start(self._row + 1))
            self._row += 1
        if prediction is None:
            return
        weights = self._weights * valid
        x0 = col * self._grid.stride
        y0 = self._grid.row_start(row) - self._top
        rows = slice(y0, y0 + self._grid.tile)
        cols = slice(x0, x0 + self._grid.tile)
        self._sum[:, rows, cols] += np.multiply(prediction, weights, out=prediction)
        self._weight_sum[rows, cols] += weights

    def finish(self) -> None:
        """Hand on every row that is still buffered."""
        self._flush(self._grid.row_start(self._row) + self._grid.tile)

    def _flush(self, end: int) -> None:
        """Normalise and hand on the buffered rows above raster row ``end``, then slide the buffer down."""
        start = max(self._top, 0)
        stop = min(end, self._grid.height)
        if stop > start:
            self._emit(start, stop)
        shift = end - self._top
        self._sum[:, :-shift] = self._sum[:, shift:]
        self._sum[:, -shift:] = 0.0
        self._weight_sum[:-shift] = self._weight_sum[shift:]
        self._weight_sum[-shift:] = 0.0
        self._top = end

    def _emit(self, start: int, stop: int) -> None:
        rows = slice(start - self._top, stop - self._top)
        cols = slice(self._grid.margin, self._grid.margin + self._grid.width)
        weight = self._weight_sum[rows, cols]
        valid = weight > 0
        values = self._sum[:, rows, cols] / np.where(valid, weight, 1.0)
        self._sink(start, values, valid)

"""The tiled engine: windowed read -> batch -> model -> blend -> windowed write, with reading and writing in threads.

One background thread reads and normalises the next tiles while the model runs on the current batch; another
writes finished rows while the model runs on the next ones. Tiles without a single valid pixel never reach the
model. Memory is bounded by the tile batch, the prefetch queue and one strip of rows being blended, whatever the
raster's size.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass

import numpy as np
import rasterio
import torch
from rasterio.windows import Window
from torch import nn

from dinomc_core.data import Scene
from dinomc_core.data.normalization import Normalization
from dinomc_core.errors import DinoMCError
from dinomc_core.inference.blend import RowSink, StripBlender
from dinomc_core.inference.tiling import TileGrid, clip_window, default_overlap, make_grid, reflect_pad
from dinomc_core.progress import Progress, check_cancelled
from dinomc_core.ssl.distributed import resolve_device

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
GDAL_CACHE_MB = 128
"""GDAL's block cache during a run: two rows of 256 px blocks of a 13-band, 9000 px wide raster. GDAL's default
(5 % of the RAM) would keep growing with the raster's size."""


def bounded_block_cache() -> rasterio.Env:
    """A GDAL environment whose block cache (decompressed blocks read or written) stays at ``GDAL_CACHE_MB``."""
    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB)


@dataclass(frozen=True)
class EngineOptions:
    """How to tile and run: tile size and overlap in pixels (None: the predictor's default tile, and an eighth of
    it or the model's context), tiles per batch, device (``auto``: CUDA when present) and precision (``auto``:
    bf16 on CUDA, and on CPUs with native bf16 when it runs the model faster)."""

    tile_size: int | None = None
    overlap: int | None = None
    batch_size: int = 8
    device: str = "auto"
    precision: str = "auto"

    def grid(self, height: int, width: int, predictor: TilePredictor) -> TileGrid:
        """The tile grid over a raster, aligned on the predictor's ``multiple`` (patch size or output stride)."""
        tile = self.tile_size or predictor.default_tile
        overlap = max(default_overlap(tile), predictor.context) if self.overlap is None else self.overlap
        if tile < 1 or overlap < 0:
            raise DinoMCError(f"the tile size ({tile}) must be positive and the overlap ({overlap}) not negative")
        return make_grid(height, width, tile, overlap, predictor.multiple)


@dataclass(frozen=True)
class BandSource:
    """One raster (one date) as the model wants it: 0-based band indices in the model's order and normalisation."""

    scene: Scene
    bands: list[int]
    normalization: Normalization


@dataclass
class Tile:
    """A normalised tile ``(C, T, T)`` float32 (nodata filled with 0, the band mean) and its validity ``(T, T)``."""

    data: np.ndarray
    valid: np.ndarray


class TileReader:
    """Reads full tiles from one raster, or from several on one grid (two dates) stacked along the bands."""

    def __init__(self, sources: Sequence[BandSource]) -> None:
        first = sources[0].scene
        for source in sources[1:]:
            if (source.scene.width, source.scene.height) != (first.width, first.height):
                raise DinoMCError(f"{source.scene.path} is not on the grid of {first.path}; align it first")
        self.sources = list(sources)
        self.height, self.width = first.height, first.width
        self._affines = [normalization_affine(source.normalization) for source in self.sources]

    def read(self, window: Window) -> Tile:
        """The tile at ``window``; the parts outside the raster are reflections of the parts inside."""
        inside = clip_window(window, self.height, self.width)
        valid = np.ones((int(inside.height), int(inside.width)), dtype=bool)
        arrays = []
        for source, (gain, offset) in zip(self.sources, self._affines):
            raw = source.scene.read(source.bands, inside)
            valid &= source.scene.read_valid_mask(inside, source.bands)
            if np.issubdtype(raw.dtype, np.floating):
                valid &= np.isfinite(raw).all(axis=0)
            normalised = np.multiply(raw, gain, dtype=np.float32)
            normalised -= offset
            arrays.append(normalised)
        data = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
        if not valid.all():
            data[:, ~valid] = 0.0
        return Tile(reflect_pad(data, window, inside), reflect_pad(valid, window, inside))


def normalization_affine(normalization: Normalization) -> tuple[np.ndarray, np.ndarray]:
    """``(gain, offset)`` per band, each ``(C, 1, 1)``: ``raw * gain - offset`` is the normalisation in two passes."""
    scale, mean, std = (np.asarray(values, dtype=np.float64)[:, None, None] for values in
                        (normalization.scale, normalization.mean, normalization.std))
    return (scale / std).astype(np.float32), (mean / std).astype(np.float32)


class TilePredictor(nn.Module):
    """Maps normalised tiles ``(N, C, T, T)`` to maps ``(N, channels, T / stride, T / stride)`` that are blended.

    ``stride`` is the output cell size in input pixels (1 for pixel maps, the patch size for per-patch embeddings);
    tile size and overlap are multiples of ``multiple``; ``context`` is how far (px) the model's view reaches, so
    the default overlap covers it.
    """

    channels: int
    stride: int = 1
    multiple: int = 1
    default_tile: int = 256
    context: int = 0


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX)."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype; None means "time both on the first tiles": ``auto`` on a CPU with native bf16.

    ``auto`` is bf16 on CUDA (fp16 on GPUs without bf16) and fp32 on other CPUs. Native bf16 is not always
    faster on a CPU (casts and unfused layers can cost more than the faster matrix products), so it is measured.
    """
    if name not in PRECISIONS:
        raise DinoMCError(f"precision {name!r} is not one of {', '.join(PRECISIONS)}")
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return None if cpu_has_bf16() else torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


class ModelRunner:
    """Runs a predictor on batches of tiles on the chosen device and precision."""

    CALIBRATION_TILES = 1

    def __init__(self, predictor: TilePredictor, options: EngineOptions) -> None:
        self.device = resolve_device(options.device)
        self.dtype = resolve_precision(options.precision, self.device)
        self.predictor = predictor.to(self.device).eval()

    def __call__(self, tiles: Sequence[np.ndarray]) -> np.ndarray:
        """Outputs ``(N, channels, t, t)`` float32 for normalised tiles ``(C, T, T)``."""
        batch = torch.from_numpy(np.stack(tiles)).to(self.device, non_blocking=True)
        if self.dtype is None:
            self.dtype = self._faster_dtype(batch[: self.CALIBRATION_TILES])
        return self._forward(batch, self.dtype).float().cpu().numpy()

    def _forward(self, batch: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        autocast = torch.autocast(self.device.type, dtype=dtype, enabled=dtype != torch.float32)
        with torch.inference_mode(), autocast:
            return self.predictor(batch)

    def _faster_dtype(self, sample: torch.Tensor) -> torch.dtype:
        """bf16 or fp32, whichever runs the predictor faster on ``sample`` (after a warm-up run of each)."""
        seconds = {}
        for dtype in (torch.float32, torch.bfloat16):
            self._forward(sample, dtype)
            started = time.perf_counter()
            self._forward(sample, dtype)
            seconds[dtype] = time.perf_counter() - started
        return min(seconds, key=seconds.get)


def prefetched(function: Callable, items: Sequence, depth: int) -> Iterator:
    """``function(item)`` for each item, computed up to ``depth`` items ahead in a background thread."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dinomc-read")
    pending: deque[Future] = deque()
    try:
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) > depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class BackgroundSink:
    """Hands rows to ``sink`` in a writer thread, at most ``depth`` calls behind, in order; errors surface here."""

    def __init__(self, sink: RowSink, depth: int = 2) -> None:
        self._sink = sink
        self._depth = depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dinomc-write")
        self._pending: deque[Future] = deque()

    def __call__(self, row: int, values: np.ndarray, valid: np.ndarray) -> None:
        self._pending.append(self._pool.submit(self._sink, row, values, valid))
        while len(self._pending) > self._depth:
            self._pending.popleft().result()

    def drain(self) -> None:
        """Wait until every row has been written."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def downsample_valid(valid: np.ndarray, factor: int) -> np.ndarray:
    """Validity of ``factor`` x ``factor`` cells: valid when at least half of their pixels are."""
    if factor == 1:
        return valid
    size = valid.shape[0] // factor
    return valid.reshape(size, factor, size, factor).mean(axis=(1, 3)) >= 0.5


def run_tiled(
    reader: TileReader,
    predictor: TilePredictor,
    sink: RowSink,
    options: EngineOptions,
    progress: Progress,
    description: str = "predicting tiles",
) -> TileGrid:
    """Predict every tile of ``reader``'s raster, blend the overlaps and hand finished rows to ``sink`` in order.

    ``sink`` receives rows of the output grid (the raster's, or its cells of ``predictor.stride`` pixels).
    Returns the pixel grid used.
    """
    grid = options.grid(reader.height, reader.width, predictor)
    runner = ModelRunner(predictor, options)
    writer = BackgroundSink(sink)
    blender = StripBlender(grid.scaled(predictor.stride), predictor.channels, writer)
    progress.set_total(len(grid), description)

    def read(item: tuple[int, int, Window]) -> tuple[int, int, Tile]:
        row, col, window = item
        return row, col, reader.read(window)

    with closing(prefetched(read, list(grid.windows()), 2 * options.batch_size)) as tiles:
        try:
            for batch in _batches(tiles, options.batch_size):
                _blend_batch(batch, runner, blender, predictor.stride)
                progress.advance(len(batch))
                check_cancelled(progress)
            blender.finish()
            writer.drain()
        finally:
            writer.close()
    return grid


def _batches(tiles: Iterator[tuple[int, int, Tile]], size: int) -> Iterator[list[tuple[int, int, Tile]]]:
    """Consecutive tiles grouped so that each group holds ``size`` tiles with valid pixels (the last one fewer)."""
    batch, useful = [], 0
    for entry in tiles:
        batch.append(entry)
        useful += bool(entry[2].valid.any())
        if useful == size:
            yield batch
            batch, useful = [], 0
    if batch:
        yield batch


def _blend_batch(
    batch: list[tuple[int, int, Tile]], runner: ModelRunner, blender: StripBlender, stride: int
) -> None:
    """Run the model on the tiles that have valid pixels and blend every tile of the batch in order."""
    useful = [tile.data for _, _, tile in batch if tile.valid.any()]
    outputs = iter(runner(useful)) if useful else iter(())
    for row, col, tile in batch:
        prediction = next(outputs) if tile.valid.any() else None
        blender.add(row, col, prediction, downsample_valid(tile.valid, stride))

"""The tiled engine on real rasters with small local models: no seams, nodata respected, cancellation, batching."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dinomc_core.data import open_scene
from dinomc_core.data.normalization import Normalization
from dinomc_core.errors import CancelledError, DinoMCError
from dinomc_core.inference.engine import (
    BandSource,
    EngineOptions,
    TilePredictor,
    TileReader,
    resolve_precision,
    run_tiled,
)
from dinomc_core.progress import SilentProgress
from tests.inference.builders import smooth_scene, write_raster


class LocalConv(TilePredictor):
    """Two 3x3 convolutions (5 px receptive field), optionally pooled to cells of ``stride`` pixels."""

    def __init__(self, in_chans: int, channels: int = 3, stride: int = 1) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.channels, self.stride, self.multiple, self.default_tile = channels, stride, stride, 64
        self.layers = nn.Sequential(nn.Conv2d(in_chans, 8, 3, padding=1), nn.Tanh(), nn.Conv2d(8, channels, 3, padding=1))
        self.batch_sizes: list[int] = []

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(len(tiles))
        output = self.layers(tiles)
        return nn.functional.avg_pool2d(output, self.stride) if self.stride > 1 else output


class CancelAfter(SilentProgress):
    def __init__(self, tiles: int) -> None:
        self.done, self.limit = 0, tiles

    def advance(self, amount: int = 1) -> None:
        self.done += amount

    def is_cancelled(self) -> bool:
        return self.done >= self.limit


@pytest.fixture(scope="module")
def landsat(shared_data: Path) -> TileReader:
    scene = open_scene(shared_data / "landsat_rgb" / "RGB.byte.tif")
    return TileReader([BandSource(scene, [0, 1, 2], Normalization([1 / 255] * 3, [0.2] * 3, [0.1] * 3))])


def predict(reader: TileReader, model: TilePredictor, **options) -> tuple[np.ndarray, np.ndarray]:
    rows = []
    run_tiled(reader, model, lambda first, values, valid: rows.append((values.copy(), valid.copy())),
              EngineOptions(precision="fp32", **options), SilentProgress())
    return np.concatenate([values for values, _ in rows], axis=1), np.concatenate([valid for _, valid in rows])


def interior(array: np.ndarray, border: int = 3) -> np.ndarray:
    return array[..., border:-border, border:-border]


def test_tiled_output_matches_whole_image_output(landsat: TileReader) -> None:
    model = LocalConv(3)
    tiled, valid = predict(landsat, model, tile_size=64, overlap=16)
    whole, _ = predict(landsat, model, tile_size=1024, overlap=0)
    assert tiled.shape == (3, landsat.height, landsat.width)
    difference = np.abs(tiled - whole)[:, valid]
    assert interior(np.abs(tiled - whole) * valid).max() < 1e-4 and np.isfinite(difference).all()


def test_two_tile_offsets_give_the_same_values(landsat: TileReader) -> None:
    model = LocalConv(3)
    first, valid = predict(landsat, model, tile_size=64, overlap=16, batch_size=3)
    second, _ = predict(landsat, model, tile_size=96, overlap=32, batch_size=5)
    assert interior(np.abs(first - second) * valid).max() < 1e-4


def test_nodata_in_nodata_out(landsat: TileReader) -> None:
    _, valid = predict(landsat, LocalConv(3), tile_size=128, overlap=32)
    expected = landsat.sources[0].scene.read_valid_mask()
    np.testing.assert_array_equal(valid, expected)
    assert 0.25 < 1 - valid.mean() < 0.4


def test_tiles_without_valid_pixels_never_reach_the_model(tmp_path: Path) -> None:
    data = smooth_scene(128, 256, 2)
    data[:, :, :128] = 0
    scene = open_scene(write_raster(tmp_path / "half.tif", data, ["B02", "B03"], nodata=0))
    reader = TileReader([BandSource(scene, [0, 1], Normalization([1e-4] * 2, [0.1] * 2, [0.05] * 2))])
    model = LocalConv(2)
    _, valid = predict(reader, model, tile_size=64, overlap=0, batch_size=4)
    assert model.batch_sizes == [4] and not valid[:, :128].any() and valid[:, 128:].all()


def test_raster_smaller_than_one_tile(tmp_path: Path) -> None:
    scene = open_scene(write_raster(tmp_path / "tiny.tif", smooth_scene(9, 13, 2), ["B02", "B03"]))
    reader = TileReader([BandSource(scene, [0, 1], Normalization([1e-4] * 2, [0.1] * 2, [0.05] * 2))])
    values, valid = predict(reader, LocalConv(2), tile_size=64, overlap=16)
    assert values.shape == (3, 9, 13) and valid.all() and np.isfinite(values).all()


def test_per_patch_outputs_have_one_cell_per_stride(landsat: TileReader) -> None:
    values, valid = predict(landsat, LocalConv(3, stride=8), tile_size=64, overlap=16)
    assert values.shape == (3, -(-landsat.height // 8), -(-landsat.width // 8))
    assert valid.any() and not valid.all()


def test_cancellation_stops_the_run(landsat: TileReader) -> None:
    with pytest.raises(CancelledError):
        run_tiled(landsat, LocalConv(3), lambda *row: None, EngineOptions(tile_size=64, batch_size=2), CancelAfter(4))


def test_precision_choice() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == torch.float32
    assert resolve_precision("auto", cpu) in (torch.float32, None)
    with pytest.raises(DinoMCError, match="precision"):
        resolve_precision("int8", cpu)


def test_bf16_stays_close_to_fp32(landsat: TileReader) -> None:
    model = LocalConv(3)
    exact, valid = predict(landsat, model, tile_size=128, overlap=32)
    rows = []
    run_tiled(landsat, model, lambda first, values, ok: rows.append(values.copy()),
              EngineOptions(tile_size=128, overlap=32, precision="bf16"), SilentProgress())
    approximate = np.concatenate(rows, axis=1)
    assert np.abs(approximate - exact)[:, valid].mean() < 0.05

"""Outputs land atomically, are written block row by block row, and carry colours, class names and the grid."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from dinomc_core.errors import DinoMCError
from dinomc_core.inference.writers import GeoTiffWriter, GridSpec, OutputSet, RasterStyle, aux_path

GRID = GridSpec(CRS.from_epsg(32631), Affine(10, 0, 500000, 0, -10, 5400000), width=300, height=530)


def write_in_chunks(files: OutputSet, final: Path, data: np.ndarray, chunk: int, **kwargs) -> GeoTiffWriter:
    writer = GeoTiffWriter(files, final, GRID, data.shape[0], data.dtype.name, kwargs.pop("nodata", None), **kwargs)
    for top in range(0, data.shape[1], chunk):
        writer.write_rows(data[:, top : top + chunk])
    writer.finish()
    return writer


def test_rows_in_odd_chunks_round_trip_with_the_grid(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(0, 200, (2, 530, 300)).astype(np.uint16)
    with OutputSet([tmp_path / "out.tif"]) as files:
        write_in_chunks(files, tmp_path / "out.tif", data, chunk=37)
    with rasterio.open(tmp_path / "out.tif") as dataset:
        np.testing.assert_array_equal(dataset.read(), data)
        assert dataset.crs == GRID.crs and dataset.transform == GRID.transform
        assert dataset.profile["tiled"] and dataset.compression.name == "deflate"
    assert [path.name for path in tmp_path.iterdir()] == ["out.tif"]


def test_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    data = np.zeros((1, 530, 300), np.uint8)
    with pytest.raises(RuntimeError, match="boom"), OutputSet([tmp_path / "out.tif"]) as files:
        writer = GeoTiffWriter(files, tmp_path / "out.tif", GRID, 1, "uint8", 0)
        writer.write_rows(data[:, :300])
        raise RuntimeError("boom")
    writer.__exit__(None, None, None)
    assert list(tmp_path.iterdir()) == []


def test_colours_and_class_names_are_readable(tmp_path: Path) -> None:
    style = RasterStyle(("class",), {0: (255, 0, 0, 255), 1: (0, 255, 0, 255)}, ("crop", "forest"))
    with OutputSet([tmp_path / "classes.tif"]) as files:
        write_in_chunks(files, tmp_path / "classes.tif", np.ones((1, 530, 300), np.uint8), 100, nodata=255, style=style)
    with rasterio.open(tmp_path / "classes.tif") as dataset:
        assert dataset.colormap(1)[0] == (255, 0, 0, 255) and dataset.descriptions == ("class",)
    assert "<Category>forest</Category>" in aux_path(tmp_path / "classes.tif").read_text()


def test_cog_on_request(tmp_path: Path) -> None:
    data = np.random.default_rng(1).random((1, 530, 300)).astype(np.float32)
    with OutputSet([tmp_path / "cog.tif"]) as files:
        write_in_chunks(files, tmp_path / "cog.tif", data, 64, cog=True, nodata=float("nan"))
    with rasterio.open(tmp_path / "cog.tif") as dataset:
        assert dataset.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        np.testing.assert_array_equal(dataset.read(), data)
    assert [path.name for path in tmp_path.iterdir()] == ["cog.tif"]


def test_float16_storage(tmp_path: Path) -> None:
    data = np.linspace(-3, 3, 530 * 300, dtype=np.float32).reshape(1, 530, 300)
    with OutputSet([tmp_path / "half.tif"]) as files:
        write_in_chunks(files, tmp_path / "half.tif", data.astype(np.float16), 256)
    with rasterio.open(tmp_path / "half.tif") as dataset:
        assert dataset.tags(1, ns="IMAGE_STRUCTURE")["NBITS"] == "16"
        np.testing.assert_allclose(dataset.read(), data, atol=2e-3)


def test_bad_output_paths_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.tif"
    source.touch()
    with pytest.raises(DinoMCError, match="also an input"):
        OutputSet([source], [source])
    with pytest.raises(DinoMCError, match="does not exist"):
        OutputSet([tmp_path / "missing" / "out.tif"])
    with pytest.raises(DinoMCError, match="named twice"):
        OutputSet([tmp_path / "a.tif", tmp_path / "a.tif"])


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs a folder nobody can write, even root (/proc)")
def test_unwritable_folder_is_refused() -> None:
    with pytest.raises(DinoMCError, match="not writable"):
        OutputSet([Path("/proc/out.tif")])

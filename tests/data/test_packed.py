"""Packed pretraining data: the windows of the rasters themselves (exact when lossless, within half a step when
quantised), dates kept by place, nodata kept, and pretraining on a packed file where rasterio cannot be imported."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from dinomc_core.data.packed import PixelWindow, read_packed
from dinomc_core.data.pretrain_datasets import build_pretrain_dataset
from dinomc_core.errors import DinoMCError, run_cli
from dinomc_core.pack import main as pack_main

SACLAY = "oscd/Onera Satellite Change Detection dataset - Images/saclay_e"
RGB = "B02,B03,B04"

NO_GDAL = '''
import sys
class NoGdal:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("rasterio", "geopandas", "shapely", "pyogrio", "fiona", "osgeo", "affine"):
            raise ImportError(f"{name} is not installed on this host")
sys.meta_path.insert(0, NoGdal())
'''


@pytest.fixture(scope="module")
def saclay_packs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("packed")
    packs = {"lossless": folder / "saclay_lossless.npz", "quantised": folder / "saclay.npz"}
    assert run_cli(pack_main, [str(shared_data / SACLAY), "--bands", RGB, "--out", str(packs["lossless"]),
                               "--lossless"]) == 0
    assert run_cli(pack_main, [str(shared_data / SACLAY), "--bands", RGB, "--out", str(packs["quantised"])]) == 0
    return packs


def test_lossless_packing_gives_the_rasters_windows_and_keeps_the_dates(shared_data, saclay_packs) -> None:
    from_rasters = build_pretrain_dataset(shared_data / SACLAY, RGB, window_size=128, seed=5)
    packed = build_pretrain_dataset(saclay_packs["lossless"], window_size=128, seed=5)
    assert packed.band_names == from_rasters.band_names == ["B02", "B03", "B04"] and packed.names_known
    assert packed.scale == from_rasters.scale and packed.gsd == pytest.approx(from_rasters.gsd)
    assert len(packed) == len(from_rasters)
    for index in (0, 7, len(packed) - 1):
        assert torch.equal(packed[index], from_rasters[index])
    temporal = build_pretrain_dataset(saclay_packs["lossless"], window_size=128, temporal=True)
    (place,) = temporal.places
    assert len(place.scenes) == 2 and (place.height, place.width) == (631, 679)
    before, after = temporal[0]
    assert before.shape == after.shape == (3, 128, 128) and not torch.equal(before, after)


def test_quantised_packing_is_within_half_a_step_and_smaller(shared_data, saclay_packs) -> None:
    lossless, quantised = read_packed(saclay_packs["lossless"]), read_packed(saclay_packs["quantised"])
    assert saclay_packs["quantised"].stat().st_size < 0.6 * saclay_packs["lossless"].stat().st_size
    for exact, coded in zip(lossless.places[0], quantised.places[0]):
        window = PixelWindow(0, 0, exact.width, exact.height)
        truth, decoded = exact.read([0, 1, 2], window), coded.read([0, 1, 2], window)
        low = coded.offset[:, None, None]
        high = low + coded.step[:, None, None] * 254
        inside = (truth >= low) & (truth <= high)
        assert inside.mean() > 0.999, "only the darkest and brightest 0.01 % per band are clipped"
        error = np.abs(decoded - truth)[inside]
        assert error.max() <= float(coded.step.max()) / 2 + 1e-3


def test_nodata_stays_nodata_when_quantised(tmp_path: Path) -> None:
    values = np.random.default_rng(0).integers(100, 3000, (2, 80, 90)).astype(np.uint16)
    values[:, :30, :] = 0
    profile = dict(driver="GTiff", count=2, height=80, width=90, dtype="uint16", nodata=0, crs="EPSG:32633",
                   transform=from_origin(500000, 4000000, 10, 10))
    with rasterio.open(tmp_path / "scene.tif", "w", **profile) as target:
        target.write(values)
    assert run_cli(pack_main, [str(tmp_path / "scene.tif"), "--out", str(tmp_path / "scene.npz")]) == 0
    ((image,),) = read_packed(tmp_path / "scene.npz").places
    window = PixelWindow(0, 0, 90, 80)
    valid = image.read_valid_mask(window, [0, 1])
    assert not valid[:30].any() and valid[30:].all()
    assert (image.read([0, 1], window)[:, :30] == 0).all()


def test_bad_packing_and_packed_inputs_are_one_sentence(shared_data, saclay_packs, tmp_path, capsys) -> None:
    assert run_cli(pack_main, [str(shared_data / SACLAY), "--out", str(tmp_path / "saclay.zip")]) == 2
    assert "name the packed file saclay.npz" in capsys.readouterr().err
    single = tmp_path / "one_date.npz"
    assert run_cli(pack_main, [str(shared_data / SACLAY / "imgs_1"), "--bands", RGB, "--out", str(single)]) == 0
    with pytest.raises(DinoMCError, match="1 of the 1 places in one_date.npz have one date"):
        build_pretrain_dataset(single, temporal=True)
    with pytest.raises(DinoMCError, match="B08"):
        build_pretrain_dataset(saclay_packs["quantised"], bands="B08")


def test_pretraining_on_packed_data_needs_no_gdal(saclay_packs, tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(NO_GDAL)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()]), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "dinomc_core.pretrain", "--data", str(saclay_packs["quantised"]),
               "--arch", "resnet10t", "--window-size", "64", "--global-size", "48", "--local-sizes", "32",
               "--out-dim", "64", "--epochs", "1", "--batch-size", "8", "--num-workers", "0",
               "--out", str(tmp_path / "run")]
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert (tmp_path / "run" / "encoder.dinomc").exists()
    check = subprocess.run([sys.executable, "-c", "import rasterio"], capture_output=True, text=True, env=environment)
    assert check.returncode != 0, "the host of this test must lack rasterio"

"""``python -m dinomc_core.embed``: embeddings from the command line, and bad input in one sentence."""
from __future__ import annotations

from pathlib import Path

import pytest
import rasterio

from dinomc_core.embed import main
from dinomc_core.errors import run_cli
from tests.inference.builders import save_encoder, smooth_scene, write_raster

BANDS = ["B02", "B03", "B04", "B08"]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_encoder(tmp_path_factory.mktemp("cli-models") / "encoder.dinomc", BANDS)


def test_components_from_the_command_line(encoder: Path, tmp_path: Path, capsys) -> None:
    scene = write_raster(tmp_path / "scene.tif", smooth_scene(70, 90, 4), BANDS)
    code = run_cli(main, [str(scene), "--model", str(encoder), "--output", str(tmp_path / "pca.tif"), "--components", "4",
                          "--quiet", "--precision", "fp32"])
    assert code == 0 and "6x5 cells" in capsys.readouterr().err
    with rasterio.open(tmp_path / "pca.tif") as dataset:
        assert dataset.count == 4 and dataset.res == (160.0, 160.0)


def test_missing_band_is_named(encoder: Path, tmp_path: Path, capsys) -> None:
    scene = write_raster(tmp_path / "rgb.tif", smooth_scene(40, 40, 3), BANDS[:3])
    code = run_cli(main, [str(scene), "--model", str(encoder), "--output", str(tmp_path / "emb.tif"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "B08" in err and "Traceback" not in err
    assert not (tmp_path / "emb.tif").exists()

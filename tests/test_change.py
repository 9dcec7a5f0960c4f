"""``python -m dinomc_core.change``: pair and batch modes from the command line, and bad input in one sentence."""
from __future__ import annotations

import csv
import json
import signal
from pathlib import Path

import pytest
import rasterio
from rasterio.transform import from_origin

from dinomc_core.change import main
from dinomc_core.errors import run_cli
from tests.data.builders import write_envi_pair
from tests.inference.builders import save_change_model, save_classifier, save_encoder, smooth_scene, write_raster

BANDS = ["B02", "B03", "B04", "B08"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli-models")
    return {"change": save_change_model(folder / "change.dinomc", BANDS), "encoder": save_encoder(folder / "encoder.dinomc", BANDS),
            "classifier": save_classifier(folder / "landcover.dinomc", BANDS)}


@pytest.fixture()
def dates(tmp_path: Path) -> tuple[Path, Path]:
    before = smooth_scene(60, 80, 4)
    after = before.copy()
    after[:, 20:40, 30:60] = 3500
    return write_raster(tmp_path / "before_20200101.tif", before, BANDS), write_raster(tmp_path / "after_20200601.tif", after, BANDS)


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    code = run_cli(main, argv + ["--quiet", "--precision", "fp32"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("model", "method"), [("change", "supervised"), ("encoder", "embedding")])
def test_pair_mode_picks_the_method_from_the_model_file(model: str, method: str, models, dates, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    code, err = run(["--model", str(models[model]), "--before", str(dates[0]), "--after", str(dates[1]), "--output",
                     str(out / "change.tif"), "--magnitude", str(out / "magnitude.tif"), "--polygons", str(out / "change.gpkg")], capsys)
    assert code == 0 and "changed:" in err
    expected_threshold = "0.5000" if method == "supervised" else ""
    assert f"threshold {expected_threshold}" in err
    with rasterio.open(out / "change.tif") as change, rasterio.open(out / "magnitude.tif") as magnitude:
        assert change.dtypes[0] == "uint8" and magnitude.dtypes[0] == "float32" and change.shape == (60, 80)
        assert set(change.read(1).ravel()) <= {1, 2}


def test_progress_json_reports_the_change_figures_last(models, dates, tmp_path: Path, capsys) -> None:
    """What the QGIS plugin's worker reads: the result object on the last JSON line of stdout."""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = run_cli(main, ["--model", str(models["change"]), "--before", str(dates[0]), "--after", str(dates[1]),
                              "--output", str(tmp_path / "change.tif"), "--precision", "fp32", "--progress", "json"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 0 and result["event"] == "result" and result["method"] == "supervised"
    assert result["threshold"] == 0.5 and result["valid_pixels"] == 60 * 80
    assert result["changed_percent"] == pytest.approx(100 * result["changed_pixels"] / result["valid_pixels"])
    assert result["outputs"] == {"change": str(tmp_path / "change.tif"), "magnitude": None, "polygons": None}


def test_batch_mode(models, dates, tmp_path: Path, capsys) -> None:
    scenes = dates[0].parent
    code, err = run(["--model", str(models["encoder"]), "--scenes", str(scenes), "--out", str(tmp_path / "batch"),
                     "--tile-size", "64"], capsys)
    assert code == 0 and "1 pairs" in err
    with open(tmp_path / "batch" / "summary.csv", newline="") as stream:
        (row,) = list(csv.DictReader(stream))
    assert (row["before"], row["after"], row["before_date"]) == ("before_20200101.tif", "after_20200601.tif", "2020-01-01")


@pytest.mark.parametrize(("case", "message"), [
    ("dates that do not overlap", "do not overlap"),
    ("classifier for supervised change", "needs a change model file"),
    ("pair and batch options mixed", "not both"),
    ("incomplete options", "give --before, --after and --output"),
    ("output is the before image", "also an input"),
])
def test_bad_input_is_one_sentence_and_leaves_nothing(case: str, message: str, models, dates, tmp_path: Path, capsys) -> None:
    before, after = dates
    argv = ["--model", str(models["change"]), "--before", str(before), "--after", str(after),
            "--output", str(tmp_path / "change.tif"), "--magnitude", str(tmp_path / "magnitude.tif")]
    if case == "dates that do not overlap":
        far = write_raster(tmp_path / "far.tif", smooth_scene(60, 80, 4), BANDS, transform=from_origin(800000, 5400000, 10, 10))
        argv[5] = str(far)
    elif case == "classifier for supervised change":
        argv[1] = str(models["classifier"])
        argv += ["--method", "supervised"]
    elif case == "pair and batch options mixed":
        argv += ["--scenes", str(tmp_path)]
    elif case == "incomplete options":
        argv = argv[:6]
    elif case == "output is the before image":
        argv[7] = str(before)
    existing = sorted(tmp_path.iterdir())
    code, err = run(argv, capsys)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert sorted(tmp_path.iterdir()) == existing


def test_envi_dates_named_by_scene_need_no_band_flags(shared_data: Path, tmp_path: Path, capsys) -> None:
    before, after = write_envi_pair(tmp_path / "envi", shared_data / "landsat_rgb" / "RGB.byte.tif", size=160)
    with rasterio.open(before) as first:
        encoder = save_encoder(tmp_path / "pretrained.dinomc", list(first.descriptions))  # as pretrain names them
    common = ["--model", str(encoder), "--before", str(before), "--after", str(after), "--method", "embedding",
              "--tile-size", "64"]
    code = run_cli(main, [*common, "--output", str(tmp_path / "change.tif"), "--precision", "fp32"])
    printed = capsys.readouterr()
    assert code == 0 and "changed:" in printed.err
    assert f"{after.name}: bands matched by wavelength (0.482, 0.565, 0.66 µm)" in printed.out
    with rasterio.open(tmp_path / "change.tif") as change:
        values = set(change.read(1).ravel())
        assert change.shape == (160, 160) and 1 in values and values <= {0, 1, 2}
    code, err = run([*common, "--output", str(tmp_path / "by_position.tif"), "--bands", "1", "2", "3"], capsys)
    assert code == 0 and "changed:" in err

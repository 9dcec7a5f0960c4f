"""``python -m dinomc_core.classify``: a map from the command line, and bad input answered with one sentence."""
from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import rasterio
import rasterio.shutil

from dinomc_core.classify import main
from dinomc_core.errors import run_cli
from tests.inference.builders import save_classifier, save_encoder, smooth_scene, write_raster

BANDS = ["B02", "B03", "B04", "B08"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli-models")
    return {"classifier": save_classifier(folder / "landcover.dinomc", BANDS), "encoder": save_encoder(folder / "encoder.dinomc", BANDS)}


@pytest.fixture()
def scene(tmp_path: Path) -> Path:
    return write_raster(tmp_path / "scene.tif", smooth_scene(70, 90, 4), BANDS)


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    code = run_cli(main, argv)
    return code, capsys.readouterr().err


def test_classify_writes_every_output(models: dict[str, Path], scene: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    code, err = run([str(scene), "--model", str(models["classifier"]), "--output", str(out / "classes.tif"),
                     "--probabilities", str(out / "p.tif"), "--confidence", str(out / "c.tif"), "--polygons",
                     str(out / "regions.gpkg"), "--min-area", "200", "--summary", str(out / "summary.csv"),
                     "--tile-size", "64", "--precision", "fp32", "--quiet"], capsys)
    assert code == 0 and "water:" in err
    assert sorted(path.name for path in out.iterdir()) == [
        "c.tif", "classes.tif", "classes.tif.aux.xml", "p.tif", "regions.gpkg", "summary.csv"]
    with rasterio.open(out / "p.tif") as probabilities:
        assert probabilities.count == 3 and probabilities.descriptions == ("water", "forest", "urban")


def truncated(tmp_path: Path) -> Path:
    """A raster whose header is intact (COG layout: directory first) but whose pixel data stops half way."""
    full = write_raster(tmp_path / "full.tif", smooth_scene(600, 600, 4), BANDS)
    path = tmp_path / "truncated.tif"
    rasterio.shutil.copy(full, path, driver="COG", compress="deflate")
    full.unlink()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


@pytest.mark.parametrize(("case", "message"), [
    ("missing input", "does not exist"),
    ("not a raster", "not a raster"),
    ("truncated raster", "truncated or corrupt"),
    ("not a model file", "not a readable dinomc model file"),
    ("encoder instead of classifier", "without a task head"),
    ("output is the input", "also an input"),
    ("unwritable folder", "not writable"),
])
def test_bad_input_is_one_sentence_and_leaves_nothing(case: str, message: str, models, scene: Path, tmp_path: Path, capsys) -> None:
    notes = tmp_path / "notes.tif"
    notes.write_text("not an image")
    model, source, output = models["classifier"], scene, tmp_path / "classes.tif"
    if case == "missing input":
        source = tmp_path / "missing.tif"
    elif case == "not a raster":
        source = notes
    elif case == "truncated raster":
        source = truncated(tmp_path)
    elif case == "not a model file":
        model = notes
    elif case == "encoder instead of classifier":
        model = models["encoder"]
    elif case == "output is the input":
        output = scene
    elif case == "unwritable folder":
        output = Path("/proc/classes.tif")
    before = sorted(tmp_path.iterdir())
    code, err = run([str(source), "--model", str(model), "--output", str(output), "--summary", str(tmp_path / "s.csv"),
                     "--quiet"], capsys)
    assert code == 2 and err.startswith("error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert sorted(tmp_path.iterdir()) == before


def test_progress_json_reports_classes_colours_and_areas_last(models: dict[str, Path], scene: Path, tmp_path: Path, capsys) -> None:
    """What the QGIS plugin's worker reads: JSON lines on stdout, the result last (SIGTERM becomes a cancel)."""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = run_cli(main, [str(scene), "--model", str(models["classifier"]), "--output", str(tmp_path / "classes.tif"),
                              "--tile-size", "64", "--precision", "fp32", "--progress", "json"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and events[0]["event"] == "total" and {event["event"] for event in events[1:-1]} <= {"advance", "log", "total"}
    result = events[-1]
    assert result["event"] == "result" and result["outputs"]["classes"] == str(tmp_path / "classes.tif")
    assert [(entry["id"], entry["name"], entry["color"]) for entry in result["classes"]] == [
        (0, "water", "#1f78b4"), (1, "forest", "#33a02c"), (2, "urban", "#e31a1c")]
    assert sum(entry["pixels"] for entry in result["classes"]) == 70 * 90
    assert sum(entry["percent"] for entry in result["classes"]) == pytest.approx(100.0)

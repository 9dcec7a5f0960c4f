"""The algorithms through ``qgis_process.bin``, as a script runs them, with the plugin installed by make."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import geopandas as gpd
import pytest
import rasterio
from shapely.geometry import box

QGIS_PROCESS = "/usr/bin/qgis_process.bin"  # Debian's qgis_process wrapper passes an option 3.22 rejects


@pytest.fixture(scope="module")
def qgis_process(qgis_install, tmp_path_factory):
    """Runs ``qgis_process.bin --json run ALGORITHM -- KEY=VALUE ...`` against a profile that make installed into."""
    profiles = tmp_path_factory.mktemp("qgis")
    qgis_install(profiles / "profiles" / "default")
    runtime = tmp_path_factory.mktemp("runtime")
    runtime.chmod(0o700)
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment.update({"QGIS_CUSTOM_CONFIG_PATH": str(profiles), "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(runtime)})

    def run(algorithm: str, **parameters) -> subprocess.CompletedProcess:
        arguments = [f"{key}={value}" for key, value in parameters.items()]
        return subprocess.run([QGIS_PROCESS, "--json", "run", algorithm, "--", *arguments],
                              env=environment, capture_output=True, text=True, timeout=300)

    return run


def results_of(completed: subprocess.CompletedProcess) -> dict:
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout[completed.stdout.index("{"):])["results"]


def test_trainhead_then_classify_match_the_cli(qgis_process, rgb_encoder, landsat, tmp_path):
    """Polygons from qgis_process are the CLI's polygons; every declared output is printed (class shares included)."""
    labels = tmp_path / "drawn.gpkg"
    with rasterio.open(landsat) as source:
        transform, crs = source.transform, source.crs
    squares = [("dark", 300, 500), ("bright", 420, 360)]
    frame = gpd.GeoDataFrame(
        {"landcover": [name for name, _, _ in squares]},
        geometry=[box(*(transform * (col, row + 60)), *(transform * (col + 60, row))) for _, row, col in squares], crs=crs,
    )
    frame.to_crs("EPSG:4326").to_file(labels)  # drawn in another CRS than the raster's
    model = tmp_path / "drawn.dinomc"
    trained = results_of(qgis_process("dinomc:trainhead", INPUT=landsat, TRAINING=labels, CLASS_FIELD="landcover",
                                      MODEL=rgb_encoder, CLASSIFIER=1, OUTPUT=model))
    assert 0.0 <= trained["VALIDATION_ACCURACY"] <= 1.0 and model.is_file()

    polygons = tmp_path / "qgis_process.gpkg"
    results = results_of(qgis_process("dinomc:classify", INPUT=landsat, MODEL=model, OUTPUT=tmp_path / "classes.tif",
                                      POLYGONS=polygons, PRECISION=1))  # fp32: the same map wherever it runs
    assert set(results) >= {"OUTPUT", "POLYGONS", "PROBABILITIES", "CONFIDENCE", "SUMMARY", "CLASS_PERCENT"}
    assert set(json.loads(results["CLASS_PERCENT"])) == {"bright", "dark"}
    cli_polygons = tmp_path / "cli.gpkg"
    subprocess.run([sys.executable, "-m", "dinomc_core.classify", str(landsat), "--model", str(model), "--output",
                    str(tmp_path / "cli.tif"), "--polygons", str(cli_polygons), "--precision", "fp32", "--quiet"],
                   check=True, timeout=300)
    from_qgis, from_cli = gpd.read_file(polygons), gpd.read_file(cli_polygons)
    assert len(from_qgis) > 0 and from_qgis.is_valid.all() and not from_qgis.is_empty.any()
    assert list(from_qgis["class_name"]) == list(from_cli["class_name"])
    assert from_qgis.geometry.geom_equals(from_cli.geometry).all()


def test_change_on_geographic_rasters_prints_its_figures(qgis_process, rgb_encoder, bercy_dates, tmp_path):
    before, after = bercy_dates
    results = results_of(qgis_process("dinomc:change", BEFORE=before, AFTER=after, MODEL=rgb_encoder, METHOD=0,
                                      OUTPUT=tmp_path / "change.tif", POLYGONS=tmp_path / "change.gpkg"))
    assert 0 < results["CHANGED_PERCENT"] < 100 and results["CHANGED_HECTARES"] > 0 and results["THRESHOLD_USED"] > 0
    changes = gpd.read_file(tmp_path / "change.gpkg")
    assert len(changes) > 0 and changes.is_valid.all() and set(changes["class_name"]) == {"changed"}

"""The Processing provider in a real, headless QGIS 3.22: registration, algorithms end to end, errors, cancel."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from qgis.core import (
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)

ALGORITHM_IDS = {"dinomc:classify", "dinomc:change", "dinomc:embed", "dinomc:trainhead", "dinomc:batchchange"}


def run(algorithm_id, parameters, feedback=None):
    import processing

    return processing.run(algorithm_id, parameters, feedback=feedback or QgsProcessingFeedback())


def test_provider_offers_the_contracted_algorithms(dinomc_provider):
    assert dinomc_provider.id() == "dinomc"
    assert {algorithm.id() for algorithm in dinomc_provider.algorithms()} == ALGORITHM_IDS


def test_embed_writes_components_on_the_patch_grid(dinomc_provider, rgb_encoder, landsat, tmp_path):
    output = tmp_path / "embeddings.tif"
    result = run("dinomc:embed", {"INPUT": str(landsat), "MODEL": str(rgb_encoder), "COMPONENTS": 3, "OUTPUT": str(output)})
    assert result["OUTPUT"] == str(output)
    with rasterio.open(landsat) as source, rasterio.open(output) as embedded:
        assert embedded.count == 3 and embedded.crs == source.crs
        assert embedded.res == pytest.approx((source.res[0] * 16, source.res[1] * 16))
        assert (embedded.bounds.left, embedded.bounds.top) == pytest.approx((source.bounds.left, source.bounds.top))
        values = embedded.read(1)
    assert np.isnan(values).any() and np.isfinite(values).any()  # the nodata collar stays nodata


def two_dates(shared_data, tmp_path):
    """Before/after GeoTIFFs of the real OSCD bercy pair, with RGB band names (red, green, blue)."""
    from dinomc_core.data import open_scene

    root = shared_data / "oscd" / "Onera Satellite Change Detection dataset - Images" / "bercy"
    paths = []
    for folder in ("imgs_1", "imgs_2"):
        with open_scene(root / folder) as scene:
            indices = [scene.band_names.index(name) for name in ("B04", "B03", "B02")]
            data = scene.read(indices)
            profile = {"driver": "GTiff", "width": scene.width, "height": scene.height, "count": 3, "dtype": "uint8",
                       "crs": scene.crs, "transform": scene.transform}
        path = tmp_path / f"{folder}.tif"
        with rasterio.open(path, "w", **profile) as target:
            target.write(np.clip(data / 3000 * 255, 0, 255).astype("uint8"))
            target.descriptions = ("red", "green", "blue")
        paths.append(path)
    return paths


def test_change_by_embeddings_gives_a_styled_change_map(dinomc_provider, rgb_encoder, shared_data, tmp_path):
    import processing

    before, after = two_dates(shared_data, tmp_path)
    output = tmp_path / "change.tif"
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    result = processing.runAndLoadResults(
        "dinomc:change",
        {"BEFORE": str(before), "AFTER": str(after), "MODEL": str(rgb_encoder), "METHOD": 0, "OUTPUT": str(output)},
        feedback=QgsProcessingFeedback(),
        context=context,
    )
    with rasterio.open(output) as change:
        values = change.read(1)
    assert set(np.unique(values)) <= {0, 1, 2} and (values == 2).any() and (values == 1).any()
    assert 0 < result["CHANGED_PERCENT"] < 100
    layer = QgsProject.instance().mapLayer(result["OUTPUT"]) if result["OUTPUT"] in QgsProject.instance().mapLayers() else None
    layers = [candidate for candidate in QgsProject.instance().mapLayers().values() if candidate.source() == str(output)]
    layer = layer or layers[0]
    assert layer.renderer().type() == "paletted"
    assert [entry.label for entry in layer.renderer().classes()] == ["unchanged", "changed"]
    QgsProject.instance().removeAllMapLayers()


def test_batch_change_over_a_folder_of_dated_scenes(dinomc_provider, rgb_encoder, shared_data, tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    for path, date in zip(two_dates(shared_data, tmp_path), ("20161130", "20170829")):
        path.rename(scenes / f"bercy_{date}.tif")
    out = tmp_path / "out"
    result = run("dinomc:batchchange", {"SCENES": str(scenes), "MODEL": str(rgb_encoder), "METHOD": 0, "OUTPUT_FOLDER": str(out)})
    assert result["PAIR_COUNT"] == 1
    assert (out / "summary.csv").is_file() and Path(result["SUMMARY"]).is_file()
    again = run("dinomc:batchchange", {"SCENES": str(scenes), "MODEL": str(rgb_encoder), "METHOD": 0, "OUTPUT_FOLDER": str(out)})
    assert again["PAIR_COUNT"] == 1  # finished pairs are skipped, the summary still lists them


def training_polygons(landsat_path):
    """A scratch (memory) layer with two classes drawn as squares inside the scene's valid area."""
    with rasterio.open(landsat_path) as source:
        transform = source.transform
    layer = QgsVectorLayer(f"Polygon?crs=EPSG:32618&field=landcover:string", "drawn", "memory")
    squares = {"dark": (300, 500), "bright": (420, 360)}
    features = []
    for label, (row, col) in squares.items():
        x0, y0 = transform * (col, row)
        x1, y1 = transform * (col + 60, row + 60)
        feature = QgsFeature(layer.fields())
        ring = [QgsPointXY(x0, y0), QgsPointXY(x1, y0), QgsPointXY(x1, y1), QgsPointXY(x0, y1)]
        feature.setGeometry(QgsGeometry.fromPolygonXY([ring]))
        feature.setAttribute("landcover", label)
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer


def test_train_from_drawn_polygons_then_classify(dinomc_provider, rgb_encoder, landsat, tmp_path):
    model = tmp_path / "drawn.dinomc"
    trained = run("dinomc:trainhead", {
        "INPUT": str(landsat), "TRAINING": training_polygons(landsat), "CLASS_FIELD": "landcover",
        "MODEL": str(rgb_encoder), "PROTOCOL": 0, "CHIP_SIZE": 32, "OUTPUT": str(model),
    })
    assert model.is_file() and model.with_suffix(".metrics.json").is_file()
    assert 0.0 <= trained["VALIDATION_ACCURACY"] <= 1.0
    classes = tmp_path / "classes.tif"
    summary = tmp_path / "areas.csv"
    result = run("dinomc:classify", {"INPUT": str(landsat), "MODEL": str(model), "OUTPUT": str(classes), "SUMMARY": str(summary)})
    with rasterio.open(landsat) as source, rasterio.open(classes) as mapped:
        assert (mapped.crs, mapped.transform, mapped.shape) == (source.crs, source.transform, source.shape)
        values, valid = mapped.read(1), (source.read_masks() > 0).all(axis=0)  # a pixel missing any band is nodata
        assert set(np.unique(values[valid])) <= {0, 1}
        assert (values[~valid] == mapped.nodata).all()
    assert set(result["CLASS_PERCENT"]) == {"bright", "dark"}
    assert summary.read_text().startswith("class_id,class_name")


def test_bad_input_is_one_processing_error_and_no_output(dinomc_provider, landsat, tmp_path):
    not_a_model = tmp_path / "broken.dinomc"
    not_a_model.write_bytes(b"not a zip")
    output = tmp_path / "classes.tif"
    with pytest.raises(QgsProcessingException, match="not a readable dinomc model file"):
        run("dinomc:classify", {"INPUT": str(landsat), "MODEL": str(not_a_model), "OUTPUT": str(output)})
    assert not output.exists()


def test_cancel_leaves_no_output(dinomc_provider, rgb_encoder, landsat, tmp_path):
    feedback = QgsProcessingFeedback()
    feedback.cancel()
    output = tmp_path / "embeddings.tif"
    with pytest.raises(QgsProcessingException, match="cancelled"):
        run("dinomc:embed", {"INPUT": str(landsat), "MODEL": str(rgb_encoder), "OUTPUT": str(output)}, feedback)
    assert not list(tmp_path.iterdir())


def test_missing_dependency_names_the_package(dinomc_provider, rgb_encoder, landsat, tmp_path, monkeypatch):
    from dinomc_qgis.algorithms import base

    monkeypatch.setattr(base, "missing_modules", lambda: ["timm"])
    with pytest.raises(QgsProcessingException, match="needs the Python packages timm"):
        run("dinomc:embed", {"INPUT": str(landsat), "MODEL": str(rgb_encoder), "OUTPUT": str(tmp_path / "e.tif")})


QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")


@pytest.mark.skipif(not QGIS_PROCESS.exists(), reason="qgis_process.bin comes with Debian's qgis package")
def test_qgis_process_runs_the_plugin(rgb_encoder, landsat, repo_root, tmp_path):
    plugins = tmp_path / "plugins"
    shutil.copytree(repo_root / "dinomc_qgis", plugins / "dinomc_qgis", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(repo_root / "metadata.txt", plugins / "dinomc_qgis" / "metadata.txt")
    site_packages = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    env = {**os.environ, "QGIS_PLUGINPATH": str(plugins), "QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "profile"),
           "PYTHONPATH": os.pathsep.join([str(site_packages), str(repo_root)]), "QT_QPA_PLATFORM": "offscreen",
           "XDG_RUNTIME_DIR": str(tmp_path)}
    subprocess.run([str(QGIS_PROCESS), "plugins", "enable", "dinomc_qgis"], env=env, check=True, capture_output=True, timeout=120)
    output = tmp_path / "embeddings.tif"
    completed = subprocess.run(
        [str(QGIS_PROCESS), "--json", "run", "dinomc:embed", "--", f"INPUT={landsat}", f"MODEL={rgb_encoder}",
         "COMPONENTS=2", f"OUTPUT={output}"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout[completed.stdout.index("{"):])
    assert report["results"]["OUTPUT"] == str(output)
    with rasterio.open(output) as embedded:
        assert embedded.count == 2

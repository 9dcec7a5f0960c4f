"""Fixtures for the QGIS plugin tests: the provider in a headless QGIS with this Python as its worker, model files."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from qgis.core import QgsApplication, QgsFeature, QgsGeometry, QgsPointXY, QgsProcessingFeedback, QgsVectorLayer

from dinomc_core.models import create_backbone, encoder_tensors, metadata_for_backbone, save_model_file


@pytest.fixture(scope="session")
def worker_pythonpath(repo_root):
    """Workers run this checkout's dinomc_core, whatever the environment's own install points to."""
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo_root), previous]))
    yield
    if previous is None:
        os.environ.pop("PYTHONPATH")
    else:
        os.environ["PYTHONPATH"] = previous


@pytest.fixture(scope="session")
def dinomc_provider(qgis_app, qgis_processing, worker_pythonpath):
    """The ``dinomc`` provider, registered once, with the test's Python as the worker Python."""
    from processing.core.ProcessingConfig import ProcessingConfig

    from dinomc_qgis.provider import DinoMCProvider
    from dinomc_qgis.settings import WORKER_PYTHON

    provider = DinoMCProvider()  # the reference keeps it alive, as QGIS needs
    QgsApplication.processingRegistry().addProvider(provider)
    ProcessingConfig.setSettingValue(WORKER_PYTHON, sys.executable)
    yield provider
    QgsApplication.processingRegistry().removeProvider(provider)


@pytest.fixture(scope="session")
def rgb_encoder(tmp_path_factory):
    """A small random-weight ViT encoder for 8-bit RGB, enough to exercise the plugin end to end."""
    path = tmp_path_factory.mktemp("models") / "rgb_encoder.dinomc"
    backbone = create_backbone("vit_tiny_patch16_224", in_chans=3)
    metadata = metadata_for_backbone(
        backbone,
        bands=["red", "green", "blue"],
        normalization={"scale": [1 / 255] * 3, "mean": [0.3] * 3, "std": [0.2] * 3},
        gsd=300.0,
        tile_size=128,
    )
    save_model_file(path, metadata, encoder_tensors(backbone))
    return path


@pytest.fixture(scope="session")
def landsat(shared_data):
    return shared_data / "landsat_rgb" / "RGB.byte.tif"


@pytest.fixture(scope="session")
def bercy_dates(shared_data, tmp_path_factory):
    """Before/after GeoTIFFs (EPSG:4326) of the real OSCD bercy pair, with RGB band names (red, green, blue)."""
    from dinomc_core.data import open_scene

    root = shared_data / "oscd" / "Onera Satellite Change Detection dataset - Images" / "bercy"
    folder_out = tmp_path_factory.mktemp("bercy")
    paths = []
    for folder in ("imgs_1", "imgs_2"):
        with open_scene(root / folder) as scene:
            indices = [scene.band_names.index(name) for name in ("B04", "B03", "B02")]
            data = scene.read(indices)
            profile = {"driver": "GTiff", "width": scene.width, "height": scene.height, "count": 3, "dtype": "uint8",
                       "crs": scene.crs, "transform": scene.transform}
        path = folder_out / f"bercy_{folder}.tif"
        with rasterio.open(path, "w", **profile) as target:
            target.write(np.clip(data / 3000 * 255, 0, 255).astype("uint8"))
            target.descriptions = ("red", "green", "blue")
        paths.append(path)
    return tuple(paths)


@pytest.fixture(scope="session")
def bercy_scenes(bercy_dates, tmp_path_factory):
    """A folder of the two dated bercy scenes, as batch change finds them."""
    folder = tmp_path_factory.mktemp("scenes")
    for path, date in zip(bercy_dates, ("20161130", "20170829")):
        shutil.copy(path, folder / f"bercy_{date}.tif")
    return folder


@pytest.fixture(scope="session")
def qgis_install(repo_root):
    """Installs the plugin into a profile folder the way the README says (``make qgis-install PROFILE=...``), with
    this test's virtual environment as the worker; returns the installed plugin folder."""
    def install(profile):
        completed = subprocess.run(
            ["make", "-s", "-C", str(repo_root), "qgis-install", f"PROFILE={profile}", f"VENV={sys.prefix}"],
            capture_output=True, text=True, timeout=300,
        )
        assert completed.returncode == 0, completed.stderr[-2000:]
        return profile / "python" / "plugins" / "dinomc_qgis"

    return install


def training_polygons(landsat_path):
    """A scratch (memory) layer with two classes drawn as squares inside the scene's valid area."""
    with rasterio.open(landsat_path) as source:
        transform = source.transform
    layer = QgsVectorLayer("Polygon?crs=EPSG:32618&field=landcover:string", "drawn", "memory")
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


@pytest.fixture(scope="session")
def drawn_model(dinomc_provider, rgb_encoder, landsat, tmp_path_factory):
    """A classifier trained by ``dinomc:trainhead`` from two squares drawn over the Landsat scene."""
    model = tmp_path_factory.mktemp("drawn") / "drawn.dinomc"
    import processing

    trained = processing.run("dinomc:trainhead", {
        "INPUT": str(landsat), "TRAINING": training_polygons(landsat), "CLASS_FIELD": "landcover",
        "MODEL": str(rgb_encoder), "CLASSIFIER": 1, "OUTPUT": str(model),
    }, feedback=QgsProcessingFeedback())
    assert model.is_file() and model.with_suffix(".metrics.json").is_file()
    assert 0.0 <= trained["VALIDATION_ACCURACY"] <= 1.0
    assert sorted(path.name for path in model.parent.iterdir()) == ["drawn.dinomc", "drawn.metrics.json"]
    return model

"""``python -m dinomc_core.finetune`` end to end on the real samples, and its answers to bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from dinomc_core.data.bands import BIGEARTHNET_BANDS, SENTINEL2_BANDS
from dinomc_core.downstream.task_model import load_task_model
from dinomc_core.errors import run_cli
from dinomc_core.finetune import main
from dinomc_core.models import create_backbone, encoder_tensors, metadata_for_backbone, save_model_file


@pytest.fixture(scope="module")
def encoders(tmp_path_factory) -> dict[str, Path]:
    """Random-weight encoders: resnet18 on 13 Sentinel-2 bands and on BigEarthNet's 12, a ViT on 13."""
    folder = tmp_path_factory.mktemp("cli_encoders")
    files = {}
    for name, arch, bands in (("resnet13", "resnet18", SENTINEL2_BANDS), ("resnet12", "resnet18", BIGEARTHNET_BANDS),
                              ("vit13", "vit_tiny_patch16_224", SENTINEL2_BANDS), ("rgb", "resnet18", ("red", "green", "blue"))):
        torch.manual_seed(0)
        backbone = create_backbone(arch, len(bands))
        count = len(bands)
        metadata = metadata_for_backbone(backbone, bands=list(bands), gsd=10.0, tile_size=64,
                                         normalization={"scale": [1e-4] * count, "mean": [0.15] * count, "std": [0.08] * count})
        files[name] = save_model_file(folder / f"{name}.dinomc", metadata, encoder_tensors(backbone))
    return files


def finetune(*argv) -> int:
    return run_cli(main, [str(arg) for arg in argv] + ["--quiet", "--device", "cpu"])


def metrics_of(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def test_classify_linear_then_evaluate_the_same_split(encoders, shared_data, tmp_path):
    out = tmp_path / "linear"
    assert finetune("classify", "--encoder", encoders["resnet13"], "--data", shared_data / "eurosat_ms", "--format", "eurosat", "--out", out) == 0
    metrics = metrics_of(out)
    assert metrics["split"] == "val" and metrics["samples"] == 20 and metrics["train_samples"] == 60
    assert {"accuracy", "per_class", "confusion_matrix"} <= set(metrics) and sum(map(sum, metrics["confusion_matrix"])) == 20
    assert set(metrics["per_class"]["Forest"]) == {"precision", "recall", "f1", "support"}
    assert {p.name for p in out.iterdir()} == {"model.dinomc", "metrics.json", "training_curves.png", "confusion_matrix.png"}
    model = load_task_model(out / "model.dinomc")
    assert model.metadata.task == "classification" and model.metadata.tile_size == 64 and model.metadata.gsd == 10.0
    assert model.metadata.classes[1] == {"name": "Forest", "color": "#1e7a1e"} and model.metadata.bands == list(SENTINEL2_BANDS)
    assert model.metadata.head["protocol"] == "linear" and model.metadata.head["type"] == "scaled"
    assert model.metadata.head["classifier"]["type"] == "linear" and model.metadata.head["feature"] == "fused chip statistics"
    assert metrics["chip_features"]["chosen"] in ("fused", "bands") and set(metrics["chip_features"]["out_of_fold_scores"]) == {"fused", "bands"}
    evaluated = tmp_path / "evaluated"
    assert finetune("evaluate", "--model", out / "model.dinomc", "--data", shared_data / "eurosat_ms", "--format", "eurosat",
                    "--out", evaluated, "--split", "val") == 0
    assert metrics_of(evaluated)["accuracy"] == pytest.approx(metrics["accuracy"])
    assert finetune("evaluate", "--model", out / "model.dinomc", "--data", shared_data / "eurosat_ms", "--format", "eurosat", "--out", evaluated) == 0
    assert metrics_of(evaluated)["samples"] == 80


@pytest.mark.parametrize("protocol, encoder", [("knn", "vit13"), ("full", "resnet13")])
def test_classify_knn_and_full(encoders, shared_data, tmp_path, protocol, encoder):
    out = tmp_path / protocol
    assert finetune("classify", "--encoder", encoders[encoder], "--data", shared_data / "eurosat_ms", "--format", "eurosat",
                    "--out", out, "--protocol", protocol, "--epochs", "1", "--batch-size", "16", *(["--amp"] if protocol == "full" else [])) == 0
    metrics = metrics_of(out)
    assert metrics["protocol"] == protocol and 0.0 <= metrics["accuracy"] <= 1.0
    assert load_task_model(out / "model.dinomc").metadata.head["protocol"] == protocol


def test_multilabel_bigearthnet_43_classes(encoders, shared_data, tmp_path):
    out = tmp_path / "multilabel"
    assert finetune("multilabel", "--encoder", encoders["resnet12"], "--data", shared_data / "bigearthnet_s2", "--format", "bigearthnet",
                    "--nomenclature", "43", "--out", out, "--epochs", "5") == 0
    metrics = metrics_of(out)
    assert {"map_micro", "map_macro"} <= set(metrics) and len(metrics["per_class_ap"]) == 43
    model = load_task_model(out / "model.dinomc")
    assert model.metadata.task == "multilabel" and model.metadata.tile_size == 120


def test_change_on_oscd_with_held_out_city_then_evaluate(encoders, shared_data, tmp_path):
    out = tmp_path / "change"
    assert finetune("change", "--encoder", encoders["resnet13"], "--data", shared_data / "oscd", "--format", "oscd", "--out", out,
                    "--val-cities", "bercy", "--epochs", "1", "--patches-per-epoch", "16", "--batch-size", "8", "--patch-size", "64") == 0
    metrics = metrics_of(out)
    assert metrics["cities"] == ["bercy"] and len(metrics["train_cities"]) == 9
    assert {"precision", "recall", "f1", "iou"} <= set(metrics) and metrics["counts"]["tp"] + metrics["counts"]["fn"] > 0
    assert {"precision_recall.png", "training_curves.png", "model.dinomc"} <= {p.name for p in out.iterdir()}
    model = load_task_model(out / "model.dinomc")
    assert model.metadata.task == "change" and model.metadata.tile_size == 64
    evaluated = tmp_path / "evaluated"
    assert finetune("evaluate", "--model", out / "model.dinomc", "--data", shared_data / "oscd", "--format", "oscd",
                    "--val-cities", "bercy", "--split", "val", "--out", evaluated) == 0
    assert metrics_of(evaluated)["cities"] == ["bercy"] and metrics_of(evaluated)["f1"] == pytest.approx(metrics["f1"])


def _label_raster(path: Path, raster: Path) -> Path:
    """Labels 1 and 2 in two blocks on the grid of ``raster``."""
    with rasterio.open(raster) as source:
        profile = {**source.profile, "count": 1, "dtype": "uint8", "nodata": None}
    values = np.zeros((profile["height"], profile["width"]), np.uint8)
    values[100:200, 300:400], values[400:500, 300:400] = 1, 2
    with rasterio.open(path, "w", **profile) as target:
        target.write(values, 1)
    return path


def test_classify_a_raster_with_a_label_raster_trains_a_pixel_head(encoders, shared_data, tmp_path):
    landsat = shared_data / "landsat_rgb" / "RGB.byte.tif"
    out = tmp_path / "raster"
    assert finetune("classify", "--encoder", encoders["rgb"], "--data", landsat, "--format", "raster", "--labels",
                    _label_raster(tmp_path / "labels.tif", landsat), "--classes", "water,forest", "--head", "logistic",
                    "--out", out, "--epochs", "5") == 0
    metrics = metrics_of(out)
    assert metrics["protocol"] == "pixel" and metrics["head"] == "logistic" and metrics["classes"] == ["water", "forest"]
    # each class is one block, so its last rows validate (and the report says so); nodata collar pixels are dropped
    assert metrics["shapes"] == {"train": 2, "val": 2} and len(metrics["notes"]) == 2
    assert 0 < metrics["samples"] < 0.3 * metrics["train_samples"] and metrics["train_samples"] <= 2 * 4500
    model = load_task_model(out / "model.dinomc")
    assert model.metadata.head["type"] == "pixel" and model.metadata.tile_size == 256
    assert model.metadata.bands == ["red", "green", "blue"] and round(model.metadata.gsd) == 300


def test_classify_a_raster_with_a_label_raster_as_chips(encoders, shared_data, tmp_path):
    landsat = shared_data / "landsat_rgb" / "RGB.byte.tif"
    out = tmp_path / "raster"
    assert finetune("classify", "--encoder", encoders["rgb"], "--data", landsat, "--format", "raster", "--labels",
                    _label_raster(tmp_path / "labels.tif", landsat), "--classes", "water,forest", "--chip-size", "32",
                    "--protocol", "linear", "--out", out, "--epochs", "20") == 0
    metrics = metrics_of(out)
    assert metrics["train_samples"] + metrics["samples"] == 98 and metrics["classes"] == ["water", "forest"]
    metadata = load_task_model(out / "model.dinomc").metadata
    assert metadata.tile_size == 32 and metadata.bands == ["red", "green", "blue"] and round(metadata.gsd) == 300


def test_bad_input_is_one_sentence_and_no_model_file(encoders, shared_data, tmp_path, capsys):
    landsat = shared_data / "landsat_rgb" / "RGB.byte.tif"
    labels = _label_raster(tmp_path / "labels.tif", landsat)
    cases = [
        (["classify", "--encoder", encoders["resnet13"], "--data", landsat, "--format", "raster", "--labels", labels, "--classes", "water"], "outside the class list"),
        (["classify", "--encoder", encoders["resnet13"], "--data", landsat, "--format", "raster", "--labels", labels, "--classes", "water,forest,urban"], "urban have no labelled pixel"),
        (["classify", "--encoder", encoders["resnet13"], "--data", landsat, "--format", "raster", "--labels", tmp_path / "none.tif"], "does not exist"),
        (["classify", "--encoder", encoders["resnet13"], "--data", shared_data / "bigearthnet_s2", "--format", "bigearthnet"], "this data set is multi-label"),
        (["multilabel", "--encoder", encoders["resnet13"], "--data", shared_data / "bigearthnet_s2", "--format", "bigearthnet"], "needs band(s) B10"),
        (["multilabel", "--encoder", encoders["resnet12"], "--data", shared_data / "bigearthnet_s2", "--format", "bigearthnet", "--protocol", "knn"], "at least 20 training samples"),
        (["classify", "--encoder", encoders["resnet13"], "--data", tmp_path / "missing", "--format", "eurosat"], "does not exist"),
        (["evaluate", "--model", encoders["resnet13"], "--data", shared_data / "eurosat_ms", "--format", "eurosat"], "encoder without a task head"),
    ]
    for number, (argv, message) in enumerate(cases):
        out = tmp_path / f"bad{number}"
        assert finetune(*argv, "--out", out) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error
        assert not (out / "model.dinomc").exists()



def _mosaic_with_squares(shared_data: Path, tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """Real EuroSAT chips of three classes on one UTM grid (top row trains, bottom row tests), and two squares of
    7 x 7 px per class drawn in the top row, stored in EPSG:4326 as an analyst's layer may be."""
    import geopandas as gpd
    from rasterio.transform import from_origin
    from shapely.geometry import box

    from dinomc_core.data.eurosat import load_eurosat

    chips = load_eurosat(shared_data / "eurosat_ms")
    wanted = ["SeaLake", "Forest", "Industrial"]
    image = np.zeros((13, 128, 3 * 64), np.uint16)
    truth = np.zeros((128, 3 * 64), np.int64)
    for column, name in enumerate(wanted):
        members = [index for index, chip in enumerate(chips.chips) if chips.classes[chip.target[0]] == name]
        for row in range(2):
            image[:, row * 64:(row + 1) * 64, column * 64:(column + 1) * 64] = chips.read(members[row])
            truth[row * 64:(row + 1) * 64, column * 64:(column + 1) * 64] = column
    transform = from_origin(500000, 5400000, 10, 10)
    raster = tmp_path / "mosaic.tif"
    with rasterio.open(raster, "w", driver="GTiff", width=192, height=128, count=13, dtype="uint16",
                       crs="EPSG:32631", transform=transform) as dataset:
        dataset.write(image)
        for band, name in enumerate(("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A"), 1):
            dataset.set_band_description(band, name)
    squares = []
    for column, name in enumerate(wanted):
        for row, col in ((10, 10), (40, 40)):
            left, top = transform * (column * 64 + col, row)
            right, bottom = transform * (column * 64 + col + 7, row + 7)
            squares.append({"landcover": name, "geometry": box(left, bottom, right, top)})
    labels = tmp_path / "squares.gpkg"
    gpd.GeoDataFrame(squares, crs="EPSG:32631").to_crs("EPSG:4326").to_file(labels)
    return raster, labels, truth


def test_a_pixel_head_from_polygons_maps_held_out_chips_at_pixel_resolution(encoders, shared_data, tmp_path):
    from dinomc_core.classify import main as classify_main

    raster, labels, truth = _mosaic_with_squares(shared_data, tmp_path)
    out = tmp_path / "pixel"
    assert finetune("classify", "--encoder", encoders["resnet13"], "--data", raster, "--format", "vector", "--labels",
                    labels, "--class-field", "landcover", "--features", "bands,indices", "--head", "knn",
                    "--window-size", "128", "--out", out) == 0
    metrics = metrics_of(out)
    assert metrics["shapes"] == {"train": 6, "val": 6} and metrics["classes"] == ["Forest", "Industrial", "SeaLake"]
    assert metrics["folds"] == 2 and metrics["samples"] == metrics["train_samples"]  # every square held out once
    assert run_cli(classify_main, ["--model", str(out / "model.dinomc"), str(raster), "--output", str(tmp_path / "map.tif"),
                                   "--quiet", "--device", "cpu"]) == 0
    with rasterio.open(tmp_path / "map.tif") as dataset:
        predicted = dataset.read(1)
    names = ["SeaLake", "Forest", "Industrial"]
    expected = np.array([metrics["classes"].index(name) for name in names])[truth]
    correct = predicted[64:] == expected[64:]  # the chips no square touched
    assert correct.mean() > 0.9
    # pixel resolution: right at the borders between chips the classes are still right (a map drawn at the
    # encoder's 32 px scale would blur them over 16 px on each side)
    assert correct[:, 60:68].mean() > 0.85 and correct[:, 124:132].mean() > 0.85

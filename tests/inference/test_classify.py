"""Land-cover maps from a (random) classification model file: rasters, styling, nodata, summary, polygons."""
from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.shutil
import rasterio.transform

from dinomc_core.errors import CancelledError, DinoMCError
from dinomc_core.inference.classify import CLASS_NODATA, ClassifyOutputs, classify_file
from dinomc_core.inference.engine import EngineOptions
from dinomc_core.inference.writers import aux_path
from dinomc_core.progress import SilentProgress
from tests.inference.builders import CLASSES, save_classifier, smooth_scene, write_raster

FP32 = EngineOptions(precision="fp32")


def all_outputs(folder: Path) -> ClassifyOutputs:
    return ClassifyOutputs(folder / "classes.tif", folder / "probabilities.tif", folder / "confidence.tif",
                           folder / "regions.gpkg", folder / "summary.csv")


def test_every_output_is_georeferenced_styled_and_consistent(classifier_file: Path, scene_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    rows = classify_file(classifier_file, scene_file, all_outputs(out), options=FP32)
    with rasterio.open(scene_file) as source, rasterio.open(out / "classes.tif") as classes, \
            rasterio.open(out / "probabilities.tif") as probabilities, rasterio.open(out / "confidence.tif") as confidence:
        assert (classes.crs, classes.transform, classes.shape) == (source.crs, source.transform, source.shape)
        assert classes.dtypes[0] == "uint8" and classes.nodata == CLASS_NODATA
        assert classes.colormap(1)[1] == (0x33, 0xA0, 0x2C, 255)
        labels, probs, conf = classes.read(1), probabilities.read(), confidence.read(1)
        valid = source.read_masks(1) > 0
    assert (labels[~valid] == CLASS_NODATA).all() and (labels[valid] < len(CLASSES)).all()
    assert np.isnan(probs[:, ~valid]).all() and np.isnan(conf[~valid]).all()
    np.testing.assert_allclose(probs[:, valid].sum(axis=0), 1.0, atol=1e-4)
    np.testing.assert_allclose(conf[valid], probs[:, valid].max(axis=0), atol=1e-6)
    assert (probs[:, valid].argmax(axis=0) == labels[valid]).mean() > 0.999
    assert "<Category>urban</Category>" in aux_path(out / "classes.tif").read_text()
    counts = np.bincount(labels[valid], minlength=len(CLASSES))
    assert [row.pixels for row in rows] == counts.tolist()
    assert sum(row.percent for row in rows) == pytest.approx(100.0)
    assert rows[0].hectares == pytest.approx(counts[0] * 100 / 10_000)
    with open(out / "summary.csv", newline="") as stream:
        table = list(csv.DictReader(stream))
    assert [row["class_name"] for row in table] == [entry["name"] for entry in CLASSES]
    regions = gpd.read_file(out / "regions.gpkg")
    assert regions.area_ha.sum() == pytest.approx(sum(row.hectares for row in rows))
    assert set(regions.class_name) <= {entry["name"] for entry in CLASSES}


def test_multilabel_maps_keep_independent_probabilities(model_dir: Path, rgbn_bands: list[str], scene_file: Path, tmp_path: Path) -> None:
    model = save_classifier(model_dir / "multilabel.dinomc", rgbn_bands, task="multilabel")
    classify_file(model, scene_file, ClassifyOutputs(tmp_path / "c.tif", probabilities=tmp_path / "p.tif"), options=FP32)
    with rasterio.open(tmp_path / "p.tif") as dataset:
        probabilities = dataset.read()[:, 40:, 40:]
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert not np.allclose(probabilities.sum(axis=0), 1.0, atol=1e-3)


def test_bands_are_matched_by_name_and_a_missing_band_is_named(classifier_file: Path, tmp_path: Path) -> None:
    data = smooth_scene(40, 50, 4)
    shuffled = write_raster(tmp_path / "shuffled.tif", data[::-1].copy(), ["B08", "B04", "B03", "B02"])
    ordered = write_raster(tmp_path / "ordered.tif", data, ["B02", "B03", "B04", "B08"])
    classify_file(classifier_file, shuffled, ClassifyOutputs(tmp_path / "a.tif"), options=FP32)
    classify_file(classifier_file, ordered, ClassifyOutputs(tmp_path / "b.tif"), options=FP32)
    with rasterio.open(tmp_path / "a.tif") as first, rasterio.open(tmp_path / "b.tif") as second:
        np.testing.assert_array_equal(first.read(), second.read())
    lacking = write_raster(tmp_path / "lacking.tif", data[:3].copy(), ["B02", "B03", "B04"])
    with pytest.raises(DinoMCError, match="B08"):
        classify_file(classifier_file, lacking, ClassifyOutputs(tmp_path / "c.tif"))
    assert not (tmp_path / "c.tif").exists()


def test_unnamed_bands_need_bands_by_index(classifier_file: Path, tmp_path: Path) -> None:
    unnamed = write_raster(tmp_path / "unnamed.tif", smooth_scene(40, 50, 4))
    with pytest.raises(DinoMCError, match="1-based index"):
        classify_file(classifier_file, unnamed, ClassifyOutputs(tmp_path / "c.tif"))
    classify_file(classifier_file, unnamed, ClassifyOutputs(tmp_path / "c.tif"), bands="1,2,3,4", options=FP32)
    assert (tmp_path / "c.tif").exists()


def test_a_cancelled_run_leaves_nothing(classifier_file: Path, scene_file: Path, tmp_path: Path) -> None:
    class Cancel(SilentProgress):
        def is_cancelled(self) -> bool:
            return True

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(CancelledError):
        classify_file(classifier_file, scene_file, all_outputs(out), options=EngineOptions(tile_size=64, batch_size=1),
                      progress=Cancel())
    assert list(out.iterdir()) == []


def test_cog_outputs(classifier_file: Path, scene_file: Path, tmp_path: Path) -> None:
    classify_file(classifier_file, scene_file, ClassifyOutputs(tmp_path / "c.tif", cog=True), options=FP32)
    with rasterio.open(tmp_path / "c.tif") as dataset:
        assert dataset.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and dataset.colormap(1)[0][3] == 255
    assert sorted(path.name for path in tmp_path.iterdir()) == ["c.tif", "c.tif.aux.xml", "scene.tif"]


@pytest.mark.parametrize(("driver", "suffix", "options"), [
    ("VRT", ".vrt", {}),
    ("ENVI", ".img", {}),
    ("JP2OpenJPEG", ".jp2", {"reversible": "YES", "quality": "100"}),
])
def test_any_gdal_format_gives_the_same_map(driver: str, suffix: str, options: dict, classifier_file: Path, tmp_path: Path) -> None:
    source = write_raster(tmp_path / "scene.tif", smooth_scene(64, 80, 4), ["B02", "B03", "B04", "B08"])
    copy = tmp_path / f"copy{suffix}"
    rasterio.shutil.copy(source, copy, driver=driver, **options)
    classify_file(classifier_file, source, ClassifyOutputs(tmp_path / "a.tif"), bands="1,2,3,4", options=FP32)
    classify_file(classifier_file, copy, ClassifyOutputs(tmp_path / "b.tif"), bands="1,2,3,4", options=FP32)
    with rasterio.open(tmp_path / "a.tif") as first, rasterio.open(tmp_path / "b.tif") as second:
        np.testing.assert_array_equal(first.read(), second.read())
        assert first.transform == second.transform


def test_alpha_band_marks_nodata(model_dir: Path, tmp_path: Path) -> None:
    model = save_classifier(model_dir / "rgb.dinomc", ["red", "green", "blue"])
    data = (smooth_scene(50, 60, 3) // 16).astype(np.uint8)
    alpha = np.full((1, 50, 60), 255, np.uint8)
    alpha[0, :, :15] = 0
    rgba = tmp_path / "rgba.tif"
    with rasterio.open(rgba, "w", driver="GTiff", width=60, height=50, count=4, dtype="uint8", photometric="RGB",
                       alpha="YES", crs="EPSG:32631", transform=rasterio.transform.from_origin(500000, 5400000, 1, 1)) as dataset:
        dataset.write(np.concatenate([data, alpha]))
    classify_file(model, rgba, ClassifyOutputs(tmp_path / "classes.tif"), options=FP32)
    with rasterio.open(tmp_path / "classes.tif") as dataset:
        classes = dataset.read(1)
    assert (classes[:, :15] == CLASS_NODATA).all() and (classes[:, 15:] != CLASS_NODATA).all()


def test_a_darker_date_matched_to_the_training_scene_maps_as_the_training_scene(classifier_file: Path,
                                                                                  tmp_path: Path) -> None:
    bands = ["B02", "B03", "B04", "B08"]
    summer = smooth_scene(96, 120, 4)
    gains, offsets = np.array([0.7, 0.6, 0.5, 0.45]), np.array([40.0, 30.0, 20.0, 10.0])
    winter = (summer * gains[:, None, None] + offsets[:, None, None]).round().astype(np.uint16)  # low sun
    training = write_raster(tmp_path / "summer.tif", summer, bands)
    other_date = write_raster(tmp_path / "winter.tif", winter, bands)
    progress = SilentProgress()
    classify_file(classifier_file, training, ClassifyOutputs(tmp_path / "summer_classes.tif"), options=FP32)
    classify_file(classifier_file, other_date, ClassifyOutputs(tmp_path / "raw_classes.tif"), options=FP32)
    classify_file(classifier_file, other_date, ClassifyOutputs(tmp_path / "matched_classes.tif"), options=FP32,
                  progress=progress, match_to=training)
    maps = {}
    for name in ("summer", "raw", "matched"):
        with rasterio.open(tmp_path / f"{name}_classes.tif") as dataset:
            maps[name] = dataset.read(1)
    assert (maps["matched"] == maps["summer"]).mean() > 0.99, "a per-band affine change is undone"
    assert (maps["raw"] == maps["summer"]).mean() < 0.9, "unmatched, the darker date maps otherwise"

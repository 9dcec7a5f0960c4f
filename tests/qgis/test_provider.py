"""The Processing provider in a real, headless QGIS 3.22, each algorithm run by a worker process end to end."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import rasterio
from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback, QgsProject

ALGORITHM_IDS = {"dinomc:classify", "dinomc:change", "dinomc:embed", "dinomc:trainhead", "dinomc:batchchange"}


def run(algorithm_id, parameters, feedback=None):
    import processing

    return processing.run(algorithm_id, parameters, feedback=feedback or QgsProcessingFeedback())


def run_and_load(algorithm_id, parameters):
    """Run as the toolbox does: the outputs load into the project, named and styled by the post-processors."""
    import processing

    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    return processing.runAndLoadResults(algorithm_id, parameters, feedback=QgsProcessingFeedback(), context=context)


def loaded_layers(path):
    return [layer for layer in QgsProject.instance().mapLayers().values() if layer.source().split("|")[0] == str(path)]


def test_provider_offers_the_contracted_algorithms(dinomc_provider):
    assert dinomc_provider.id() == "dinomc"
    assert {algorithm.id() for algorithm in dinomc_provider.algorithms()} == ALGORITHM_IDS
    assert not dinomc_provider.icon().isNull()
    assert all(not algorithm.icon().isNull() for algorithm in dinomc_provider.algorithms())


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


def test_change_by_embeddings_gives_a_named_styled_change_map_above_its_magnitude(dinomc_provider, rgb_encoder, bercy_dates, tmp_path):
    before, after = bercy_dates
    output, magnitude = tmp_path / "change.tif", tmp_path / "magnitude.tif"
    result = run_and_load("dinomc:change", {"BEFORE": str(before), "AFTER": str(after), "MODEL": str(rgb_encoder),
                                            "METHOD": 0, "OUTPUT": str(output), "MAGNITUDE": str(magnitude)})
    with rasterio.open(output) as change:
        values = change.read(1)
    assert set(np.unique(values)) <= {0, 1, 2} and (values == 2).any() and (values == 1).any()
    assert 0 < result["CHANGED_PERCENT"] < 100 and result["THRESHOLD_USED"] > 0
    [change_layer], [magnitude_layer] = loaded_layers(output), loaded_layers(magnitude)
    assert change_layer.name() == "Change bercy_imgs_1 → bercy_imgs_2"
    assert magnitude_layer.name() == "Change bercy_imgs_1 → bercy_imgs_2 magnitude"
    assert change_layer.renderer().type() == "paletted"
    assert [entry.label for entry in change_layer.renderer().classes()] == ["unchanged", "changed"]
    order = [node.layerId() for node in QgsProject.instance().layerTreeRoot().findLayers()]
    assert order.index(change_layer.id()) < order.index(magnitude_layer.id())
    QgsProject.instance().removeAllMapLayers()


def test_batch_change_over_a_folder_of_dated_scenes(dinomc_provider, rgb_encoder, bercy_scenes, tmp_path):
    out = tmp_path / "out"
    parameters = {"SCENES": str(bercy_scenes), "MODEL": str(rgb_encoder), "METHOD": 0, "OUTPUT_FOLDER": str(out)}
    result = run("dinomc:batchchange", parameters)
    assert result["PAIR_COUNT"] == 1
    assert (out / "summary.csv").is_file() and result["SUMMARY"] == str(out / "summary.gpkg")
    assert run("dinomc:batchchange", parameters)["PAIR_COUNT"] == 1  # finished pairs are skipped, still listed


def test_classify_gives_class_layers_named_after_the_input_with_class_colours(dinomc_provider, drawn_model, landsat, tmp_path):
    classes, polygons, summary = tmp_path / "classes.tif", tmp_path / "classes.gpkg", tmp_path / "areas.csv"
    result = run_and_load("dinomc:classify", {"INPUT": str(landsat), "MODEL": str(drawn_model), "OUTPUT": str(classes),
                                              "POLYGONS": str(polygons), "SUMMARY": str(summary)})
    with rasterio.open(landsat) as source, rasterio.open(classes) as mapped:
        assert (mapped.crs, mapped.transform, mapped.shape) == (source.crs, source.transform, source.shape)
        values, valid = mapped.read(1), (source.read_masks() > 0).all(axis=0)  # a pixel missing any band is nodata
        assert set(np.unique(values[valid])) <= {0, 1}
        assert (values[~valid] == mapped.nodata).all()
        colours = mapped.colormap(1)
    percent = json.loads(result["CLASS_PERCENT"])
    assert set(percent) == {"bright", "dark"} and sum(percent.values()) == pytest.approx(100.0)
    assert summary.read_text().startswith("class_id,class_name")
    [raster_layer], [polygon_layer] = loaded_layers(classes), loaded_layers(polygons)
    assert raster_layer.name() == "RGB land cover (drawn)" and polygon_layer.name() == "RGB land cover (drawn) polygons"
    names = {int(row["class_id"]): row["class_name"] for row in csv.DictReader(summary.open())}
    palette = {entry.label: entry.color.getRgb()[:3] for entry in raster_layer.renderer().classes()}
    assert palette == {name: colours[value][:3] for value, name in names.items()}  # the class raster's colour table
    categories = {category.value(): category.symbol().color().getRgb()[:3] for category in polygon_layer.renderer().categories()}
    assert polygon_layer.renderer().classAttribute() == "class_name" and categories == palette
    geometries = [feature.geometry() for feature in polygon_layer.getFeatures()]
    assert geometries and all(not geometry.isEmpty() and geometry.isGeosValid() for geometry in geometries)
    again = run_and_load("dinomc:classify", {"INPUT": str(landsat), "MODEL": str(drawn_model), "OUTPUT": "TEMPORARY_OUTPUT"})
    assert loaded_layers(again["OUTPUT"])[0].name() == "RGB land cover (drawn) (2)"  # repeated runs are told apart
    QgsProject.instance().removeAllMapLayers()


def test_bad_input_is_the_workers_one_sentence_and_no_output(dinomc_provider, landsat, tmp_path):
    not_a_model = tmp_path / "broken.dinomc"
    not_a_model.write_bytes(b"not a zip")
    output = tmp_path / "classes.tif"
    with pytest.raises(QgsProcessingException, match="not a readable dinomc model file"):
        run("dinomc:classify", {"INPUT": str(landsat), "MODEL": str(not_a_model), "OUTPUT": str(output)})
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broken.dinomc"]


def test_classify_matched_to_the_training_scene_maps_a_darker_date_as_that_scene(dinomc_provider, drawn_model, landsat,
                                                                                  tmp_path):
    with rasterio.open(landsat) as source:
        profile, data = source.profile, source.read()
    darker = tmp_path / "darker.tif"
    with rasterio.open(darker, "w", **profile) as target:
        target.write((data * 0.6).astype(data.dtype))  # another date, lower sun
    maps = {}
    for name, parameters in {"training": {"INPUT": str(landsat)}, "raw": {"INPUT": str(darker)},
                             "matched": {"INPUT": str(darker), "MATCH_TO": str(landsat)}}.items():
        output = tmp_path / f"{name}.tif"
        run("dinomc:classify", {**parameters, "MODEL": str(drawn_model), "OUTPUT": str(output)})
        with rasterio.open(output) as mapped:
            maps[name] = mapped.read(1)
    assert (maps["matched"] == maps["training"]).mean() > 0.98
    assert (maps["raw"] == maps["training"]).mean() < (maps["matched"] == maps["training"]).mean()

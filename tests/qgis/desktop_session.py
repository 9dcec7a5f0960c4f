"""What an analyst does in the QGIS desktop, as a ``qgis --code`` startup script (run by test_desktop.py).

It runs the DINO-MC algorithms through ``processing.runAndLoadResults`` on real samples, records what the
analyst would see (layer names, renderers, legends, polygon validity as QGIS's own GEOS judges it, which packages
QGIS's process imported) in a JSON report, optionally saves screenshots, and quits QGIS. The job comes as JSON in the
file named by ``DINOMC_DESKTOP_JOB``.
"""
import json
import os
import sys
import time
import traceback
from pathlib import Path

import processing
from qgis.core import (
    QgsApplication,
    QgsCoordinateTransform,
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import QDockWidget
from qgis.utils import iface, plugins

HEAVY_PACKAGES = ("torch", "timm", "rasterio", "shapely", "geopandas")


def drawn_squares(raster_path, crs, squares):
    """A scratch layer in ``crs`` with one labelled square per class, placed by pixel row, column and size."""
    raster = QgsRasterLayer(str(raster_path), "raster")
    extent, width, height = raster.extent(), raster.width(), raster.height()
    step_x, step_y = extent.width() / width, extent.height() / height
    layer = QgsVectorLayer(f"Polygon?crs={crs}&field=landcover:string", "drawn", "memory")
    to_layer = QgsCoordinateTransform(raster.crs(), layer.crs(), QgsProject.instance())
    features = []
    for label, (row, col, size) in squares.items():
        x0, y0 = extent.xMinimum() + col * step_x, extent.yMaximum() - row * step_y
        x1, y1 = x0 + size * step_x, y0 - size * step_y
        feature = QgsFeature(layer.fields())
        ring = [QgsPointXY(x0, y0), QgsPointXY(x1, y0), QgsPointXY(x1, y1), QgsPointXY(x0, y1)]
        geometry = QgsGeometry.fromPolygonXY([ring])
        geometry.transform(to_layer)
        feature.setGeometry(geometry)
        feature.setAttribute("landcover", label)
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer


def layer_facts(layer):
    """What the layers panel shows of a loaded layer: name, renderer type, legend labels, polygon validity."""
    facts = {"name": layer.name(), "source": layer.source().split("|")[0], "renderer": layer.renderer().type()}
    renderer = layer.renderer()
    if facts["renderer"] == "paletted":
        facts["legend"] = [entry.label for entry in renderer.classes()]
    elif facts["renderer"] == "categorizedSymbol":
        facts["legend"] = [category.label() for category in renderer.categories()]
    if isinstance(layer, QgsVectorLayer):
        geometries = [feature.geometry() for feature in layer.getFeatures()]
        facts["features"] = len(geometries)
        facts["empty"] = sum(geometry.isEmpty() for geometry in geometries)
        facts["invalid"] = sum(not geometry.isGeosValid() for geometry in geometries)
        facts["area"] = sum(geometry.area() for geometry in geometries)
    return facts


def layer_order():
    return [node.name() for node in QgsProject.instance().layerTreeRoot().findLayers()]


def grab(window, folder, name):
    QgsApplication.processEvents()
    window.grab().save(str(Path(folder) / name))


def show_only(names):
    """Only these layers visible, and only their legends expanded."""
    for node in QgsProject.instance().layerTreeRoot().findLayers():
        node.setItemVisibilityChecked(node.name() in names)
        node.setExpanded(node.name() in names)


def take_screenshots(job, results, folder):
    """The toolbox, the classify dialog, the styled land-cover map with its legend, the change map."""
    window = iface.mainWindow()
    window.resize(1280, 800)
    window.findChild(QDockWidget, "Browser").setVisible(False)
    window.resizeDocks([window.findChild(QDockWidget, "Layers")], [360], Qt.Horizontal)
    toolbox = plugins["processing"].toolbox
    toolbox.setVisible(True)
    toolbox.searchBox.setText("DINO-MC")
    grab(window, folder, "qgis_toolbox.png")
    dialog = processing.createAlgorithmDialog("dinomc:classify", {"INPUT": job["landsat"], "MODEL": results["model"]})
    dialog.show()
    grab(dialog, folder, "qgis_classify_dialog.png")
    dialog.close()
    toolbox.setVisible(False)
    canvas = iface.mapCanvas()
    for key, shot in (("classify", "qgis_landcover.png"), ("change", "qgis_change.png")):
        shown = [facts["name"] for facts in results[key]["layers"]]
        show_only(shown)
        layer = QgsProject.instance().mapLayersByName(shown[-1])[0]
        iface.setActiveLayer(layer)
        QgsProject.instance().setCrs(layer.crs())
        canvas.setDestinationCrs(layer.crs())
        canvas.setExtent(layer.extent())
        canvas.refresh()
        canvas.waitWhileRendering()
        grab(window, folder, shot)


def run_as_task(algorithm_id, parameters, cancel_when_under_way=False):
    """As the algorithm dialog runs it: a task on another thread; optionally cancelled once it reports progress."""
    algorithm = QgsApplication.processingRegistry().createAlgorithmById(algorithm_id)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = QgsProcessingFeedback()
    outcome = {}

    def cancel_once(progress):
        if progress > 0 and "cancelled_at" not in outcome:
            outcome["cancelled_at"] = time.monotonic()
            feedback.cancel()

    if cancel_when_under_way:
        feedback.progressChanged.connect(cancel_once)
    task = QgsProcessingAlgRunnerTask(algorithm, parameters, context, feedback)
    task.executed.connect(lambda ok, results: outcome.update(ok=ok, results=results))
    QgsApplication.taskManager().addTask(task)
    while "ok" not in outcome:
        QgsApplication.processEvents()
        time.sleep(0.02)
    if cancel_when_under_way:
        outcome["cancel_seconds"] = time.monotonic() - outcome.pop("cancelled_at")
    return {"ok": outcome["ok"], "cancel_seconds": outcome.get("cancel_seconds")}


def threaded_runs(job, model, out):
    """The dialog's way (a background thread): one embedding, then a long classification cancelled under way."""
    embedded = out / "threaded_embeddings.tif"
    runs = {"embed": run_as_task("dinomc:embed", {"INPUT": job["landsat"], "MODEL": job["encoder"], "OUTPUT": str(embedded)})}
    runs["embed"]["written"] = embedded.is_file()
    cancelled = out / "cancelled"
    cancelled.mkdir()
    runs["cancelled_classify"] = run_as_task("dinomc:classify", {
        "INPUT": job["landsat"], "MODEL": model, "OUTPUT": str(cancelled / "classes.tif"), "TILE_SIZE": 64, "BATCH_SIZE": 1,
        "POLYGONS": str(cancelled / "classes.gpkg"), "PROBABILITIES": str(cancelled / "probabilities.tif"),
    }, cancel_when_under_way=True)
    runs["cancelled_classify"]["left"] = sorted(path.name for path in cancelled.iterdir())
    return runs


def run_job(job):
    report = {"heavy_at_start": sorted(name for name in HEAVY_PACKAGES if name in sys.modules)}
    report["provider"] = QgsApplication.processingRegistry().providerById("dinomc") is not None
    out = Path(job["out"])
    results = {"runs": []}
    for repeat in range(job["repeats"]):
        run = {}
        before_layers = set(QgsProject.instance().mapLayers())

        def loaded():
            added = [layer for layer_id, layer in QgsProject.instance().mapLayers().items() if layer_id not in before_layers]
            before_layers.update(layer.id() for layer in added)
            return [layer_facts(layer) for layer in added]

        for name, raster, crs, squares in (
            ("utm", job["landsat"], "EPSG:4326", {"dark": (300, 500, 60), "bright": (420, 360, 60)}),
            ("geographic", job["before"], "EPSG:4326", {"dark": (40, 40, 40), "bright": (200, 200, 40)}),
        ):
            model = out / f"drawn_{name}_{repeat}.dinomc"
            trained = processing.run("dinomc:trainhead", {
                "INPUT": raster, "TRAINING": drawn_squares(raster, crs, squares), "CLASS_FIELD": "landcover",
                "MODEL": job["encoder"], "CLASSIFIER": 1, "OUTPUT": str(model),
            })
            run[f"trainhead_{name}"] = {"accuracy": trained["VALIDATION_ACCURACY"], "model": trained["OUTPUT"]}
        results["model"] = run["trainhead_utm"]["model"]
        classified = processing.runAndLoadResults("dinomc:classify", {
            "INPUT": job["landsat"], "MODEL": results["model"], "OUTPUT": "TEMPORARY_OUTPUT",
            "POLYGONS": str(out / f"classes_{repeat}.gpkg"), "CONFIDENCE": "TEMPORARY_OUTPUT",
        })
        run["classify"] = {"outputs": {key: str(value) for key, value in classified.items()}, "layers": loaded()}
        changed = processing.runAndLoadResults("dinomc:change", {
            "BEFORE": job["before"], "AFTER": job["after"], "MODEL": job["encoder"], "METHOD": 0,
            "OUTPUT": "TEMPORARY_OUTPUT", "MAGNITUDE": "TEMPORARY_OUTPUT", "POLYGONS": "TEMPORARY_OUTPUT",
        })
        run["change"] = {"percent": changed["CHANGED_PERCENT"], "layers": loaded(), "order": layer_order()}
        embedded = processing.runAndLoadResults("dinomc:embed", {
            "INPUT": job["landsat"], "MODEL": job["encoder"], "COMPONENTS": 3, "OUTPUT": "TEMPORARY_OUTPUT",
        })
        run["embed"] = {"output": embedded["OUTPUT"], "layers": loaded()}
        batch = processing.run("dinomc:batchchange", {
            "SCENES": job["scenes"], "MODEL": job["encoder"], "METHOD": 0, "OUTPUT_FOLDER": str(out / f"batch_{repeat}"),
        })
        run["batchchange"] = {"pairs": batch["PAIR_COUNT"], "summary": batch["SUMMARY"]}
        results["runs"].append(run)
        results["classify"], results["change"] = run["classify"], run["change"]
    report["threaded"] = threaded_runs(job, results["model"], out)
    if job.get("screenshots"):
        take_screenshots(job, results, job["screenshots"])
    report["runs"] = results["runs"]
    report["heavy_at_end"] = sorted(name for name in HEAVY_PACKAGES if name in sys.modules)
    return report


def main():
    job = json.loads(Path(os.environ["DINOMC_DESKTOP_JOB"]).read_text())
    code = 0
    try:
        report = run_job(job)
    except Exception:  # the report must say what failed, and QGIS must still quit
        report, code = {"error": traceback.format_exc()}, 1
    Path(job["report"]).write_text(json.dumps(report, indent=1, default=str))
    QgsProject.instance().clear()
    QgsApplication.exit(code)


QTimer.singleShot(0, main)

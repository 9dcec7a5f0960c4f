"""``dinomc:trainhead``: train a land-cover classifier from polygons or points drawn over a raster."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterLayer,
)

from dinomc_qgis.algorithms.base import GROUP_TRAINING, DinoMCAlgorithm

INPUT = "INPUT"
TRAINING = "TRAINING"
CLASS_FIELD = "CLASS_FIELD"
HEAD = "CLASSIFIER"
FEATURES = "FEATURES"
OUTPUT = "OUTPUT"
ACCURACY = "VALIDATION_ACCURACY"
CHOSEN = "CHOSEN_CLASSIFIER"
HEADS = ("auto", "logistic", "mlp", "knn", "forest")
HEAD_LABELS = ("Best on held-out polygons", "Logistic regression", "Small neural network (MLP): fast maps",
               "k nearest neighbours: maps 9 times slower than the MLP", "Random forest: maps 2 times slower than the MLP")
FEATURE_GROUPS = ("bands,indices,texture,context", "bands,indices", "context", "bands,indices,texture",
                  "bands,indices,context")
FEATURE_LABELS = ("Bands, spectral indices, texture and DINO-MC context", "Bands and spectral indices only",
                  "DINO-MC context only", "Bands, spectral indices and texture (no encoder)",
                  "Bands, spectral indices and DINO-MC context (no texture: sharper edges)")
MODULE = "dinomc_core.finetune"


class TrainHeadAlgorithm(DinoMCAlgorithm):
    group_name = GROUP_TRAINING

    def name(self) -> str:
        return "trainhead"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return "Train a classifier from polygons"

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return (
            "Trains a per-pixel land-cover classifier from a few polygons or points per class drawn over a raster "
            "(any vector layer, scratch layers included, in any CRS). Each labelled pixel is described by its bands, "
            "spectral indices, the texture around it and the frozen DINO-MC encoder's view of its surroundings. The "
            "polygons of each class are "
            "held out in turn (cross-validation over whole polygons, never parts of them) to choose the classifier "
            "and report its accuracy honestly; the chosen one is then trained on all of them. Draw two or more "
            "polygons per class. The result is a model file for 'Classify "
            "land cover', which maps at pixel resolution; its validation metrics are written beside it (.metrics.json). "
            "When classifiers tie on the held-out polygons (common for water against land), the best is taken to be "
            "k nearest neighbours, whose maps held up best in our tests but take about nine times as long as the "
            "MLP's; for large rasters, choose the MLP."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterRasterLayer(INPUT, "Raster"))
        self.addParameter(QgsProcessingParameterFeatureSource(
            TRAINING, "Training polygons or points", [QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint]
        ))
        self.addParameter(QgsProcessingParameterField(CLASS_FIELD, "Class field", parentLayerParameterName=TRAINING))
        self.add_model_parameter("DINO-MC encoder (.dinomc)")
        self.addParameter(QgsProcessingParameterEnum(HEAD, "Classifier", options=list(HEAD_LABELS), defaultValue=0))
        features = QgsProcessingParameterEnum(FEATURES, "Pixel features", options=list(FEATURE_LABELS), defaultValue=0)
        features.setFlags(features.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(features)
        self.addParameter(QgsProcessingParameterFileDestination(OUTPUT, "Classification model", "DINO-MC models (*.dinomc)"))
        self.add_device_parameter()
        self.addOutput(QgsProcessingOutputNumber(ACCURACY, "Balanced accuracy on the held-out polygons"))
        self.addOutput(QgsProcessingOutputString(CHOSEN, "Classifier kept"))

    def execute(self, parameters, context, feedback):
        raster, _ = self.raster_layer(parameters, INPUT, context)
        training = self.parameterAsCompatibleSourceLayerPath(parameters, TRAINING, context, ["gpkg", "shp"], "gpkg", feedback)
        output = Path(self.parameterAsFileOutput(parameters, OUTPUT, context))
        output.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=output.parent, prefix=".dinomc-train-") as work:
            arguments = [
                "classify", "--encoder", self.model_path(parameters, context),
                "--data", raster, "--format", "vector", "--labels", training.split("|")[0],
                "--class-field", self.parameterAsString(parameters, CLASS_FIELD, context),
                "--protocol", "pixel", "--head", HEADS[self.parameterAsEnum(parameters, HEAD, context)],
                "--features", FEATURE_GROUPS[self.parameterAsEnum(parameters, FEATURES, context)],
                "--out", work, "--device", self.device(parameters, context),
            ]
            result = self.run_tool(MODULE, arguments, feedback)
            os.replace(result["outputs"]["model"], output)
            shutil.copyfile(result["outputs"]["metrics"], output.with_suffix(".metrics.json"))
        metrics = result["metrics"]
        feedback.pushInfo(f"{metrics['head']} classifier: balanced accuracy {metrics['balanced_accuracy']:.3f} on "
                          f"{metrics['samples']} pixels of {metrics['shapes']['val']} polygons, each held out in turn")
        return {OUTPUT: str(output), ACCURACY: metrics["balanced_accuracy"], CHOSEN: metrics["head"]}

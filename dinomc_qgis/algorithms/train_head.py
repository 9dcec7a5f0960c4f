"""``dinomc:trainhead``: train a land-cover classifier from polygons or points drawn over a raster."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
)

from dinomc_qgis.algorithms.base import GROUP_TRAINING, DinoMCAlgorithm

INPUT = "INPUT"
TRAINING = "TRAINING"
CLASS_FIELD = "CLASS_FIELD"
PROTOCOL = "PROTOCOL"
CHIP_SIZE = "CHIP_SIZE"
OUTPUT = "OUTPUT"
ACCURACY = "VALIDATION_ACCURACY"
PROTOCOLS = ("linear", "knn")
MODULE = "dinomc_core.finetune"


class TrainHeadAlgorithm(DinoMCAlgorithm):
    group_name = GROUP_TRAINING

    def name(self) -> str:
        return "trainhead"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return "Train a classifier from polygons"

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return (
            "Trains a land-cover classifier on frozen DINO-MC features from a few polygons or points per class "
            "drawn over a raster (any vector layer, scratch layers included, in any CRS). Chips centred in the "
            "labelled areas train a linear head (or a k-NN), a fifth of them held out for validation. The result is "
            "a model file for 'Classify land cover'; its validation metrics are written beside it (.metrics.json)."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterRasterLayer(INPUT, "Raster"))
        self.addParameter(QgsProcessingParameterFeatureSource(
            TRAINING, "Training polygons or points", [QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint]
        ))
        self.addParameter(QgsProcessingParameterField(CLASS_FIELD, "Class field", parentLayerParameterName=TRAINING))
        self.add_model_parameter("DINO-MC encoder (.dinomc)")
        self.addParameter(QgsProcessingParameterEnum(PROTOCOL, "Classifier", options=list(PROTOCOLS), defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(CHIP_SIZE, "Chip size in pixels", defaultValue=32, minValue=8))
        self.addParameter(QgsProcessingParameterFileDestination(OUTPUT, "Classification model", "DINO-MC models (*.dinomc)"))
        self.add_device_parameter()
        self.addOutput(QgsProcessingOutputNumber(ACCURACY, "Validation accuracy"))

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
                "--chip-size", str(self.parameterAsInt(parameters, CHIP_SIZE, context)),
                "--protocol", PROTOCOLS[self.parameterAsEnum(parameters, PROTOCOL, context)],
                "--out", work, "--device", self.device(parameters, context),
            ]
            result = self.run_tool(MODULE, arguments, feedback)
            os.replace(result["outputs"]["model"], output)
            shutil.copyfile(result["outputs"]["metrics"], output.with_suffix(".metrics.json"))
        metrics = result["metrics"]
        feedback.pushInfo(f"validation accuracy {metrics['accuracy']:.3f} on {metrics['samples']} chips")
        return {OUTPUT: str(output), ACCURACY: metrics["accuracy"]}

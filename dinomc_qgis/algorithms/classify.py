"""``dinomc:classify``: a land-cover map of a raster layer with a classification model."""
from __future__ import annotations

import json
from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputString,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
)

from dinomc_qgis.algorithms.base import DinoMCAlgorithm, option
from dinomc_qgis.styling import RunLayers, load_styled

INPUT = "INPUT"
OUTPUT = "OUTPUT"
PROBABILITIES = "PROBABILITIES"
CONFIDENCE = "CONFIDENCE"
POLYGONS = "POLYGONS"
SUMMARY = "SUMMARY"
MIN_AREA = "MIN_AREA"
MATCH_TO = "MATCH_TO"
CLASS_PERCENT = "CLASS_PERCENT"
MODULE = "dinomc_core.classify"


class ClassifyAlgorithm(DinoMCAlgorithm):
    def name(self) -> str:
        return "classify"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return "Classify land cover"

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return (
            "Maps land cover over a raster of any size with a DINO-MC classification model (.dinomc), tile by tile "
            "with blended overlaps. Bands are matched by the names stored in the model; nodata stays nodata. "
            "Outputs keep the input's CRS and grid: a class raster with colours and class names, and optionally "
            "per-class probabilities, confidence, polygons with their area and a CSV of areas per class. To map "
            "another date or season of the scene a classifier was trained on, give that scene as 'Match radiometry "
            "to': each band is first scaled to its mean and spread (a low winter sun otherwise turns a city into "
            "water)."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterRasterLayer(INPUT, "Input raster"))
        self.add_model_parameter("Classification model (.dinomc)", default="sentinel2-landcover")
        self.addParameter(QgsProcessingParameterRasterDestination(OUTPUT, "Land-cover classes"))
        self.addParameter(QgsProcessingParameterRasterDestination(PROBABILITIES, "Class probabilities", optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterRasterDestination(CONFIDENCE, "Confidence", optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterVectorDestination(POLYGONS, "Class polygons", QgsProcessing.TypeVectorPolygon, optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterNumber(MIN_AREA, "Smallest polygon kept (m²)", QgsProcessingParameterNumber.Double, defaultValue=0.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterFileDestination(SUMMARY, "Area per class", "CSV files (*.csv)", optional=True, createByDefault=False))
        match_to = QgsProcessingParameterRasterLayer(MATCH_TO, "Match radiometry to (the training scene)", optional=True)
        match_to.setFlags(match_to.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(match_to)
        self.add_engine_parameters()
        self.addOutput(QgsProcessingOutputString(CLASS_PERCENT, "Share of the valid area per class (%, JSON)"))

    def execute(self, parameters, context, feedback):
        raster, raster_name = self.raster_layer(parameters, INPUT, context)
        outputs = {name: self.parameterAsOutputLayer(parameters, name, context) or None
                   for name in (OUTPUT, PROBABILITIES, CONFIDENCE, POLYGONS)}
        outputs[SUMMARY] = self.parameterAsFileOutput(parameters, SUMMARY, context) or None
        model = self.model_path(parameters, context)
        match_to = self.raster_layer(parameters, MATCH_TO, context)[0] if parameters.get(MATCH_TO) else None
        arguments = [
            raster, "--model", model, "--output", outputs[OUTPUT],
            *option("--probabilities", outputs[PROBABILITIES]), *option("--confidence", outputs[CONFIDENCE]),
            *option("--polygons", outputs[POLYGONS]), *option("--summary", outputs[SUMMARY]),
            "--min-area", str(self.parameterAsDouble(parameters, MIN_AREA, context)), *option("--match-to", match_to),
            *self.engine_arguments(parameters, context),
        ]
        result = self.run_tool(MODULE, arguments, feedback)
        classes = result["classes"]
        title = f"{raster_name} land cover ({Path(model).stem})"
        run = RunLayers()
        load_styled(context, run, 0, outputs[POLYGONS], f"{title} polygons", classes)
        load_styled(context, run, 1, outputs[OUTPUT], title, classes)
        load_styled(context, run, 2, outputs[CONFIDENCE], f"{title} confidence")
        load_styled(context, run, 3, outputs[PROBABILITIES], f"{title} probabilities")
        for entry in classes:
            feedback.pushInfo(f"{entry['name']}: {entry['percent']:.1f} % ({entry['hectares']:.1f} ha)")
        return {**outputs, CLASS_PERCENT: json.dumps({entry["name"]: round(entry["percent"], 4) for entry in classes})}

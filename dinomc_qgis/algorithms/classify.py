"""``dinomc:classify``: a land-cover map of a raster layer with a classification model."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
    QgsProcessing,
)

from dinomc_qgis.algorithms.base import DinoMCAlgorithm, load_styled_on_completion
from dinomc_qgis.styling import class_legend, paletted_legend

INPUT = "INPUT"
OUTPUT = "OUTPUT"
PROBABILITIES = "PROBABILITIES"
CONFIDENCE = "CONFIDENCE"
POLYGONS = "POLYGONS"
SUMMARY = "SUMMARY"
MIN_AREA = "MIN_AREA"


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
            "per-class probabilities, confidence, polygons with their area and a CSV of areas per class."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterRasterLayer(INPUT, "Input raster"))
        self.add_model_parameter("Classification model (.dinomc)")
        self.addParameter(QgsProcessingParameterRasterDestination(OUTPUT, "Land-cover classes"))
        self.addParameter(QgsProcessingParameterRasterDestination(PROBABILITIES, "Class probabilities", optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterRasterDestination(CONFIDENCE, "Confidence", optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterVectorDestination(POLYGONS, "Class polygons", QgsProcessing.TypeVectorPolygon, optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterNumber(MIN_AREA, "Smallest polygon kept (m²)", QgsProcessingParameterNumber.Double, defaultValue=0.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterFileDestination(SUMMARY, "Area per class", "CSV files (*.csv)", optional=True, createByDefault=False))
        self.add_engine_parameters()

    def execute(self, parameters, context, feedback, progress):
        from dinomc_core.inference.classify import ClassifyOutputs, classify_file
        from dinomc_core.models import read_metadata

        model = self.model_path(parameters, context)
        classes_path = self.parameterAsOutputLayer(parameters, OUTPUT, context)
        optional = {name: self.parameterAsOutputLayer(parameters, name, context) or None for name in (PROBABILITIES, CONFIDENCE, POLYGONS)}
        summary = self.parameterAsFileOutput(parameters, SUMMARY, context) or None
        outputs = ClassifyOutputs(
            classes=classes_path,
            probabilities=optional[PROBABILITIES],
            confidence=optional[CONFIDENCE],
            polygons=optional[POLYGONS],
            summary=summary,
            min_area=self.parameterAsDouble(parameters, MIN_AREA, context),
        )
        rows = classify_file(
            model, self.raster_path(parameters, INPUT, context), outputs, self.bands(parameters, context),
            self.engine_options(parameters, context), progress,
        )
        metadata = read_metadata(model)
        load_styled_on_completion(context, classes_path, "Land cover", paletted_legend(classes_path, class_legend(metadata.classes)))
        for row in rows:
            feedback.pushInfo(f"{row.name}: {row.percent:.1f} % ({row.hectares:.1f} ha)")
        results = {OUTPUT: classes_path, SUMMARY: summary, **{name: path for name, path in optional.items()}}
        results["CLASS_PERCENT"] = {row.name: row.percent for row in rows}
        return results

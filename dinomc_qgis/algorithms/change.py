"""``dinomc:change``: a change map between two dates, with a change model or from DINO-MC embeddings."""
from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
)

from dinomc_qgis.algorithms.base import DinoMCAlgorithm, load_styled_on_completion
from dinomc_qgis.styling import CHANGE_LEGEND, paletted_legend

BEFORE = "BEFORE"
AFTER = "AFTER"
METHOD = "METHOD"
THRESHOLD = "THRESHOLD"
OUTPUT = "OUTPUT"
MAGNITUDE = "MAGNITUDE"
POLYGONS = "POLYGONS"
MIN_AREA = "MIN_AREA"
CHANGED_HECTARES = "CHANGED_HECTARES"
CHANGED_PERCENT = "CHANGED_PERCENT"
METHODS = ("embedding", "supervised")


class ChangeAlgorithm(DinoMCAlgorithm):
    def name(self) -> str:
        return "change"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return "Map change between two dates"

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return (
            "Maps what changed between two images of the same place. 'embedding' works with any DINO-MC model, "
            "without labels: the cosine distance between the two dates' DINO-MC embeddings, thresholded "
            "automatically (Otsu) unless a threshold is given. 'supervised' needs a change model fine-tuned on "
            "labelled pairs. The after image is reprojected onto the before image's grid when they differ. "
            "The change raster holds 0 nodata, 1 unchanged, 2 changed."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterRasterLayer(BEFORE, "Before (first date)"))
        self.addParameter(QgsProcessingParameterRasterLayer(AFTER, "After (second date)"))
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterEnum(METHOD, "Method", options=list(METHODS), defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            THRESHOLD, "Threshold (empty: automatic)", QgsProcessingParameterNumber.Double, optional=True, minValue=0.0
        ))
        self.addParameter(QgsProcessingParameterRasterDestination(OUTPUT, "Change"))
        self.addParameter(QgsProcessingParameterRasterDestination(MAGNITUDE, "Change magnitude", optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterVectorDestination(POLYGONS, "Change polygons", QgsProcessing.TypeVectorPolygon, optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterNumber(MIN_AREA, "Smallest polygon kept (m²)", QgsProcessingParameterNumber.Double, defaultValue=0.0, minValue=0.0))
        self.add_engine_parameters()
        self.addOutput(QgsProcessingOutputNumber(CHANGED_HECTARES, "Changed area (ha)"))
        self.addOutput(QgsProcessingOutputNumber(CHANGED_PERCENT, "Changed share of the valid area (%)"))

    def execute(self, parameters, context, feedback, progress):
        from dinomc_core.inference.change import ChangeOutputs, detect_change_files

        change_path = self.parameterAsOutputLayer(parameters, OUTPUT, context)
        magnitude = self.parameterAsOutputLayer(parameters, MAGNITUDE, context) or None
        polygons = self.parameterAsOutputLayer(parameters, POLYGONS, context) or None
        stats = detect_change_files(
            self.model_path(parameters, context),
            METHODS[self.parameterAsEnum(parameters, METHOD, context)],
            self.raster_path(parameters, BEFORE, context),
            self.raster_path(parameters, AFTER, context),
            ChangeOutputs(change=change_path, magnitude=magnitude, polygons=polygons,
                          min_area=self.parameterAsDouble(parameters, MIN_AREA, context)),
            threshold=self.optional_double(parameters, THRESHOLD, context),
            bands=self.bands(parameters, context),
            options=self.engine_options(parameters, context),
            progress=progress,
        )
        load_styled_on_completion(context, change_path, "Change", paletted_legend(change_path, list(CHANGE_LEGEND)))
        feedback.pushInfo(f"threshold {stats.threshold:.4f}: {stats.changed_hectares:.1f} ha changed ({stats.changed_percent:.2f} %)")
        return {
            OUTPUT: change_path, MAGNITUDE: magnitude, POLYGONS: polygons,
            CHANGED_HECTARES: stats.changed_hectares, CHANGED_PERCENT: stats.changed_percent,
        }

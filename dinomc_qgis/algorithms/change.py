"""``dinomc:change``: a change map between two dates, with a change model or from DINO-MC embeddings."""
from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputNumber,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
)

from dinomc_qgis.algorithms.base import DinoMCAlgorithm, option
from dinomc_qgis.styling import CHANGE_LEGEND, RunLayers, load_styled

BEFORE = "BEFORE"
AFTER = "AFTER"
METHOD = "METHOD"
THRESHOLD = "THRESHOLD"
CHANGE_SHARE = "CHANGE_SHARE"
THRESHOLD_METHOD = "THRESHOLD_METHOD"
THRESHOLD_METHODS = ("minimum-error", "otsu")
THRESHOLD_LABELS = ("Minimum error (holds when change is rare)", "Otsu")
OUTPUT = "OUTPUT"
MAGNITUDE = "MAGNITUDE"
POLYGONS = "POLYGONS"
MIN_AREA = "MIN_AREA"
CHANGED_HECTARES = "CHANGED_HECTARES"
CHANGED_PERCENT = "CHANGED_PERCENT"
THRESHOLD_USED = "THRESHOLD_USED"
METHODS = ("embedding", "supervised")
MODULE = "dinomc_core.change"


class ChangeAlgorithm(DinoMCAlgorithm):
    def name(self) -> str:
        return "change"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return "Map change between two dates"

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return (
            "Maps what changed between two images of the same place. 'embedding' works with any DINO-MC model, "
            "without labels: deep change vector analysis, the distance at every pixel between the two dates' bands "
            "and DINO-MC context (spectral indices on request), each date standardised on the scene and each group "
            "weighted by how much change it shows, the result smoothed over about a pixel so that lone noisy pixels "
            "count less than changed patches. The threshold is found "
            "automatically (minimum-error thresholding, which holds when change is rare, or Otsu's), or set by a "
            "value or by the share of the area you expect to have changed. 'supervised' needs a change model "
            "fine-tuned on labelled pairs. The after image is reprojected onto the before image's grid when they "
            "differ. The change raster holds 0 nodata, 1 unchanged, 2 changed; the threshold and the changed area "
            "are reported."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterRasterLayer(BEFORE, "Before (first date)"))
        self.addParameter(QgsProcessingParameterRasterLayer(AFTER, "After (second date)"))
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterEnum(METHOD, "Method", options=list(METHODS), defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            THRESHOLD, "Threshold (empty: automatic)", QgsProcessingParameterNumber.Double, optional=True, minValue=0.0
        ))
        self.addParameter(QgsProcessingParameterNumber(
            CHANGE_SHARE, "Or: expected changed share of the area in % (empty: automatic)",
            QgsProcessingParameterNumber.Double, optional=True, minValue=0.0, maxValue=100.0,
        ))
        automatic = QgsProcessingParameterEnum(THRESHOLD_METHOD, "Automatic threshold", options=list(THRESHOLD_LABELS),
                                               defaultValue=0)
        automatic.setFlags(automatic.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(automatic)
        self.addParameter(QgsProcessingParameterRasterDestination(OUTPUT, "Change"))
        self.addParameter(QgsProcessingParameterRasterDestination(MAGNITUDE, "Change magnitude", optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterVectorDestination(POLYGONS, "Change polygons", QgsProcessing.TypeVectorPolygon, optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterNumber(MIN_AREA, "Smallest polygon kept (m²)", QgsProcessingParameterNumber.Double, defaultValue=0.0, minValue=0.0))
        self.add_engine_parameters()
        self.addOutput(QgsProcessingOutputNumber(CHANGED_HECTARES, "Changed area (ha)"))
        self.addOutput(QgsProcessingOutputNumber(CHANGED_PERCENT, "Changed share of the valid area (%)"))
        self.addOutput(QgsProcessingOutputNumber(THRESHOLD_USED, "Threshold used"))

    def execute(self, parameters, context, feedback):
        before, before_name = self.raster_layer(parameters, BEFORE, context)
        after, after_name = self.raster_layer(parameters, AFTER, context)
        outputs = {name: self.parameterAsOutputLayer(parameters, name, context) or None for name in (OUTPUT, MAGNITUDE, POLYGONS)}
        arguments = [
            "--model", self.model_path(parameters, context),
            "--method", METHODS[self.parameterAsEnum(parameters, METHOD, context)],
            *option("--threshold", self.optional_double(parameters, THRESHOLD, context)),
            *option("--change-share", self.optional_double(parameters, CHANGE_SHARE, context)),
            "--threshold-method", THRESHOLD_METHODS[self.parameterAsEnum(parameters, THRESHOLD_METHOD, context)],
            "--before", before, "--after", after, "--output", outputs[OUTPUT],
            *option("--magnitude", outputs[MAGNITUDE]), *option("--polygons", outputs[POLYGONS]),
            "--min-area", str(self.parameterAsDouble(parameters, MIN_AREA, context)),
            *self.engine_arguments(parameters, context),
        ]
        result = self.run_tool(MODULE, arguments, feedback)
        title = f"Change {before_name} → {after_name}"
        run = RunLayers()
        load_styled(context, run, 0, outputs[POLYGONS], f"{title} polygons", CHANGE_LEGEND[1:])
        load_styled(context, run, 1, outputs[OUTPUT], title, CHANGE_LEGEND)
        load_styled(context, run, 2, outputs[MAGNITUDE], f"{title} magnitude")
        feedback.pushInfo(f"threshold {result['threshold']:.4f}: {result['changed_hectares']:.1f} ha changed "
                          f"({result['changed_percent']:.2f} %)")
        return {**outputs, CHANGED_HECTARES: result["changed_hectares"], CHANGED_PERCENT: result["changed_percent"],
                THRESHOLD_USED: result["threshold"]}

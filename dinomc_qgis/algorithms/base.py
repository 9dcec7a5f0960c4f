"""What every DINO-MC algorithm shares: the model and engine parameters, file paths from layers, error handling."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsRasterLayer,
)

from dinomc_qgis.dependencies import missing_message, missing_modules, use_qgis_compatible_vector_io
from dinomc_qgis.feedback import FeedbackProgress

DEVICES = ("auto", "cpu", "cuda")
MODEL = "MODEL"
BANDS = "BANDS"
TILE_SIZE = "TILE_SIZE"
BATCH_SIZE = "BATCH_SIZE"
DEVICE = "DEVICE"
GROUP_MAPS = "Maps"
GROUP_TRAINING = "Training"


class DinoMCAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses declare their parameters and implement :meth:`execute`."""

    group_name = GROUP_MAPS

    def group(self) -> str:
        return self.group_name

    def groupId(self) -> str:  # noqa: N802 (QGIS's name)
        return self.group_name.lower()

    def createInstance(self):  # noqa: N802 (QGIS's name)
        return type(self)()

    def add_model_parameter(self, description: str = "DINO-MC model file (.dinomc)") -> None:
        self.addParameter(QgsProcessingParameterFile(MODEL, description, extension="dinomc"))

    def add_engine_parameters(self) -> None:
        """Band mapping, tile size, batch size and device: advanced parameters with the model's defaults."""
        parameters = [
            QgsProcessingParameterString(
                BANDS, "Bands in the model's order (names or 1-based numbers, comma-separated; empty: by name)", optional=True
            ),
            QgsProcessingParameterNumber(TILE_SIZE, "Tile size in pixels (0: the model's default)", defaultValue=0, minValue=0),
            QgsProcessingParameterNumber(BATCH_SIZE, "Tiles per batch", defaultValue=8, minValue=1),
            QgsProcessingParameterEnum(DEVICE, "Device", options=list(DEVICES), defaultValue=0),
        ]
        for parameter in parameters:
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(parameter)

    def engine_options(self, parameters: dict, context: QgsProcessingContext):
        from dinomc_core.inference.engine import EngineOptions

        tile_size = self.parameterAsInt(parameters, TILE_SIZE, context)
        return EngineOptions(
            tile_size=tile_size or None,
            batch_size=self.parameterAsInt(parameters, BATCH_SIZE, context),
            device=DEVICES[self.parameterAsEnum(parameters, DEVICE, context)],
        )

    def bands(self, parameters: dict, context: QgsProcessingContext) -> str | None:
        return self.parameterAsString(parameters, BANDS, context).strip() or None

    def optional_double(self, parameters: dict, name: str, context: QgsProcessingContext) -> float | None:
        """A number parameter left empty is None (e.g. a threshold chosen automatically)."""
        if parameters.get(name) in (None, ""):
            return None
        return self.parameterAsDouble(parameters, name, context)

    def model_path(self, parameters: dict, context: QgsProcessingContext) -> str:
        return self.parameterAsFile(parameters, MODEL, context)

    def raster_path(self, parameters: dict, name: str, context: QgsProcessingContext) -> str:
        """The file behind a raster layer parameter; layers that are not files must be saved as GeoTIFF first."""
        layer: QgsRasterLayer | None = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None:
            raise QgsProcessingException(f"{name}: choose a raster layer or a raster file")
        path = layer.source().split("|")[0]
        if layer.providerType() != "gdal" or not Path(path).exists():
            raise QgsProcessingException(
                f"the layer {layer.name()} is not a raster file (provider {layer.providerType()}); "
                "save it as a GeoTIFF (Export > Save As) and run again on that file"
            )
        return path

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback) -> dict[str, Any]:  # noqa: N802
        missing = missing_modules()
        if missing:
            raise QgsProcessingException(missing_message(missing))
        use_qgis_compatible_vector_io()
        from dinomc_core.errors import DinoMCError

        try:
            return self.execute(parameters, context, feedback, FeedbackProgress(feedback))
        except DinoMCError as error:
            raise QgsProcessingException(str(error)) from error

    def execute(self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback, progress: FeedbackProgress) -> dict[str, Any]:
        raise NotImplementedError


def load_styled_on_completion(context: QgsProcessingContext, path: str, name: str, post_processor: Callable | None = None) -> None:
    """Name the layer Processing loads from ``path`` and style it once loaded (only when it will be loaded)."""
    if not context.willLoadLayerOnCompletion(path):
        return
    details = context.layerToLoadOnCompletionDetails(path)
    details.name = name
    if post_processor is not None:
        details.setPostProcessor(post_processor)

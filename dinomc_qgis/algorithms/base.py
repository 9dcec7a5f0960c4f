"""What every DINO-MC algorithm shares: model and engine parameters, layer files and names, running the worker.

Each algorithm turns its parameters into the argument list of one ``dinomc_core`` CLI in a single method
(``cli_arguments``), runs it in the worker process, and names, styles and returns what the worker reports.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

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
from qgis.PyQt.QtGui import QIcon

from dinomc_qgis.environment import WorkerEnvironmentError, worker_environment
from dinomc_qgis.settings import worker_python_setting
from dinomc_qgis.worker import run_worker

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PRECISION = "PRECISION"
MODEL = "MODEL"
MODEL_FILTER = "DINO-MC models (*.dinomc);;All files (*)"
BANDS = "BANDS"
TILE_SIZE = "TILE_SIZE"
BATCH_SIZE = "BATCH_SIZE"
DEVICE = "DEVICE"
GROUP_MAPS = "Maps"
GROUP_TRAINING = "Training"
ICONS = Path(__file__).resolve().parent.parent / "icons"


def option(flag: str, value: Any) -> list[str]:
    """``[flag, value]`` for a CLI, or nothing when the value is unset (None or empty)."""
    if value is None or value == "":
        return []
    return [flag, str(value)]


class DinoMCAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses declare parameters and implement :meth:`execute` with :meth:`run_tool`."""

    group_name = GROUP_MAPS

    def group(self) -> str:
        return self.group_name

    def groupId(self) -> str:  # noqa: N802 (QGIS's name)
        return self.group_name.lower()

    def icon(self) -> QIcon:
        return QIcon(str(ICONS / f"{self.name()}.svg"))

    def createInstance(self):  # noqa: N802 (QGIS's name)
        return type(self)()

    def add_model_parameter(self, description: str = "DINO-MC model file (.dinomc)",
                            default: str = "sentinel2-encoder") -> None:
        """A model file, or the name of a model shipped with dinomc (``python -m dinomc_core.models`` lists them)."""
        self.addParameter(QgsProcessingParameterFile(
            MODEL, f"{description}, or a shipped model's name", fileFilter=MODEL_FILTER, defaultValue=default,
        ))

    def add_advanced(self, parameter: QgsProcessingParameterDefinition) -> None:
        parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(parameter)

    def add_engine_parameters(self) -> None:
        """Band mapping, tile size, batch size and device: advanced parameters with the model's defaults."""
        self.add_advanced(QgsProcessingParameterString(
            BANDS, "Bands in the model's order (names or 1-based numbers, comma-separated; empty: by name)", optional=True
        ))
        self.add_advanced(QgsProcessingParameterNumber(TILE_SIZE, "Tile size in pixels (0: the model's default)", defaultValue=0, minValue=0))
        self.add_advanced(QgsProcessingParameterNumber(BATCH_SIZE, "Tiles per batch", defaultValue=8, minValue=1))
        self.add_device_parameter()

    def add_device_parameter(self) -> None:
        self.add_advanced(QgsProcessingParameterEnum(DEVICE, "Device", options=list(DEVICES), defaultValue=0))
        self.add_advanced(QgsProcessingParameterEnum(
            PRECISION, "Precision (auto: the faster of bf16 and fp32 here; fp32 gives the same map on every machine)",
            options=list(PRECISIONS), defaultValue=0,
        ))

    def device(self, parameters: dict, context: QgsProcessingContext) -> str:
        return DEVICES[self.parameterAsEnum(parameters, DEVICE, context)]

    def engine_arguments(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        """The tiled engine's CLI options (``--bands``, ``--tile-size``, ``--batch-size``, ``--device``, ``--precision``)."""
        return [
            *option("--bands", self.parameterAsString(parameters, BANDS, context).strip()),
            *option("--tile-size", self.parameterAsInt(parameters, TILE_SIZE, context) or None),
            "--batch-size", str(self.parameterAsInt(parameters, BATCH_SIZE, context)),
            "--device", self.device(parameters, context),
            "--precision", PRECISIONS[self.parameterAsEnum(parameters, PRECISION, context)],
        ]

    def optional_double(self, parameters: dict, name: str, context: QgsProcessingContext) -> float | None:
        """A number parameter left empty is None (e.g. a threshold chosen automatically)."""
        if parameters.get(name) in (None, ""):
            return None
        return self.parameterAsDouble(parameters, name, context)

    def model_path(self, parameters: dict, context: QgsProcessingContext) -> str:
        return self.parameterAsFile(parameters, MODEL, context)

    def raster_layer(self, parameters: dict, name: str, context: QgsProcessingContext) -> tuple[str, str]:
        """The file behind a raster layer parameter and the layer's name; non-file layers must be saved first."""
        layer: QgsRasterLayer | None = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None:
            raise QgsProcessingException(f"{name}: choose a raster layer or a raster file")
        path = layer.source().split("|")[0]
        if layer.providerType() != "gdal" or not Path(path).exists():
            raise QgsProcessingException(
                f"the layer {layer.name()} is not a raster file (provider {layer.providerType()}); "
                "save it as a GeoTIFF (Export > Save As) and run again on that file"
            )
        return path, layer.name()

    def run_tool(self, module: str, arguments: list[str], feedback: QgsProcessingFeedback) -> dict[str, Any]:
        """Run ``python -m module arguments`` in the worker environment and return its result object."""
        try:
            environment = worker_environment(worker_python_setting())
        except WorkerEnvironmentError as error:
            raise QgsProcessingException(str(error)) from error
        return run_worker(environment, module, arguments, feedback)

    def processAlgorithm(self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback) -> dict[str, Any]:  # noqa: N802
        return self.execute(parameters, context, feedback)

    def execute(self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback) -> dict[str, Any]:
        raise NotImplementedError

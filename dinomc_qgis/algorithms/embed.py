"""``dinomc:embed``: per-patch DINO-MC embeddings of a raster, whole or reduced to a few principal components."""
from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer

from dinomc_qgis.algorithms.base import DinoMCAlgorithm, option
from dinomc_qgis.styling import RunLayers, load_styled

INPUT = "INPUT"
COMPONENTS = "COMPONENTS"
OUTPUT = "OUTPUT"
MODULE = "dinomc_core.embed"


class EmbedAlgorithm(DinoMCAlgorithm):
    def name(self) -> str:
        return "embed"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return "Extract embeddings"

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return (
            "Writes what the DINO-MC encoder sees: one feature vector per patch, on the input's footprint "
            "(one output pixel per patch). With 'Principal components' above 0 the features are reduced to that "
            "many bands (3 gives a browsable false-colour image); 0 keeps every feature (float16). Use them for "
            "clustering, similarity search or as input to other tools."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterRasterLayer(INPUT, "Input raster"))
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterNumber(COMPONENTS, "Principal components (0: all features)", defaultValue=3, minValue=0))
        self.addParameter(QgsProcessingParameterRasterDestination(OUTPUT, "Embeddings"))
        self.add_engine_parameters()

    def execute(self, parameters, context, feedback):
        raster, raster_name = self.raster_layer(parameters, INPUT, context)
        output = self.parameterAsOutputLayer(parameters, OUTPUT, context)
        model = self.model_path(parameters, context)
        arguments = [
            raster, "--model", model, "--output", output,
            *option("--components", self.parameterAsInt(parameters, COMPONENTS, context) or None),
            *self.engine_arguments(parameters, context),
        ]
        result = self.run_tool(MODULE, arguments, feedback)
        feedback.pushInfo(f"{result['width']} x {result['height']} patches")
        load_styled(context, RunLayers(), 0, output, f"{raster_name} embeddings ({Path(model).stem})")
        return {OUTPUT: output}

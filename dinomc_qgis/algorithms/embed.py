"""``dinomc:embed``: per-patch DINO-MC embeddings of a raster, whole or reduced to a few principal components."""
from __future__ import annotations

from qgis.core import QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer

from dinomc_qgis.algorithms.base import DinoMCAlgorithm, load_styled_on_completion

INPUT = "INPUT"
COMPONENTS = "COMPONENTS"
OUTPUT = "OUTPUT"


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

    def execute(self, parameters, context, feedback, progress):
        from dinomc_core.inference.embed import embed_file

        output = self.parameterAsOutputLayer(parameters, OUTPUT, context)
        components = self.parameterAsInt(parameters, COMPONENTS, context) or None
        embed_file(
            self.model_path(parameters, context), self.raster_path(parameters, INPUT, context), output, components,
            self.bands(parameters, context), self.engine_options(parameters, context), progress,
        )
        load_styled_on_completion(context, output, "Embeddings")
        return {OUTPUT: output}

"""``dinomc:batchchange``: change maps for every pair of dates in a folder of scenes, with a summary table."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from dinomc_qgis.algorithms.base import DinoMCAlgorithm, option
from dinomc_qgis.algorithms.change import METHODS, MODULE

SCENES = "SCENES"
PAIRS = "PAIRS"
METHOD = "METHOD"
THRESHOLD = "THRESHOLD"
OUTPUT_FOLDER = "OUTPUT_FOLDER"
SUMMARY = "SUMMARY"
PAIR_COUNT = "PAIR_COUNT"


class BatchChangeAlgorithm(DinoMCAlgorithm):
    def name(self) -> str:
        return "batchchange"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return "Map change over a folder of scenes"

    def shortHelpString(self) -> str:  # noqa: N802 (QGIS's name)
        return (
            "Finds the scenes in a folder (multi-band rasters and one-file-per-band scene folders), groups them by "
            "place, orders them by date and maps the change of each consecutive pair (or of the pairs listed in a "
            "CSV with columns before,after). Writes each pair's outputs, summary.csv and summary.gpkg. "
            "A re-run skips the pairs already done."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterFile(SCENES, "Folder of scenes", behavior=QgsProcessingParameterFile.Folder))
        self.add_model_parameter()
        self.addParameter(QgsProcessingParameterEnum(METHOD, "Method", options=list(METHODS), defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            THRESHOLD, "Threshold (empty: automatic)", QgsProcessingParameterNumber.Double, optional=True, minValue=0.0
        ))
        self.addParameter(QgsProcessingParameterFile(PAIRS, "Pairs to process (CSV, optional)", extension="csv", optional=True))
        self.addParameter(QgsProcessingParameterFolderDestination(OUTPUT_FOLDER, "Output folder"))
        self.add_engine_parameters()
        self.addOutput(QgsProcessingOutputVectorLayer(SUMMARY, "Summary of the pairs"))
        self.addOutput(QgsProcessingOutputNumber(PAIR_COUNT, "Pairs in the summary"))

    def execute(self, parameters, context, feedback):
        out_dir = self.parameterAsString(parameters, OUTPUT_FOLDER, context)
        arguments = [
            "--model", self.model_path(parameters, context),
            "--method", METHODS[self.parameterAsEnum(parameters, METHOD, context)],
            *option("--threshold", self.optional_double(parameters, THRESHOLD, context)),
            "--scenes", self.parameterAsFile(parameters, SCENES, context), "--out", out_dir,
            *option("--pairs", self.parameterAsFile(parameters, PAIRS, context)),
            *self.engine_arguments(parameters, context),
        ]
        result = self.run_tool(MODULE, arguments, feedback)
        return {OUTPUT_FOLDER: out_dir, SUMMARY: result["outputs"]["summary_gpkg"], PAIR_COUNT: len(result["pairs"])}

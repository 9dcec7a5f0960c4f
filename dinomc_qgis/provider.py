"""The ``dinomc`` Processing provider."""
from __future__ import annotations

from qgis.core import QgsProcessingProvider

from dinomc_qgis.algorithms.batch_change import BatchChangeAlgorithm
from dinomc_qgis.algorithms.change import ChangeAlgorithm
from dinomc_qgis.algorithms.classify import ClassifyAlgorithm
from dinomc_qgis.algorithms.embed import EmbedAlgorithm
from dinomc_qgis.algorithms.train_head import TrainHeadAlgorithm

ALGORITHMS = (ClassifyAlgorithm, ChangeAlgorithm, EmbedAlgorithm, TrainHeadAlgorithm, BatchChangeAlgorithm)


class DinoMCProvider(QgsProcessingProvider):
    """Land-cover maps, change maps, embeddings and classifier training with DINO-MC models."""

    def id(self) -> str:
        return "dinomc"

    def name(self) -> str:
        return "DINO-MC"

    def longName(self) -> str:  # noqa: N802 (QGIS's name)
        return "DINO-MC self-supervised remote-sensing models"

    def loadAlgorithms(self) -> None:  # noqa: N802 (QGIS's name)
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm())

    def supportedOutputRasterLayerExtensions(self) -> list[str]:  # noqa: N802 (QGIS's name)
        return ["tif"]

    def supportedOutputVectorLayerExtensions(self) -> list[str]:  # noqa: N802 (QGIS's name)
        return ["gpkg"]

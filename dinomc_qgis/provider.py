"""The ``dinomc`` Processing provider."""
from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from dinomc_qgis.algorithms.batch_change import BatchChangeAlgorithm
from dinomc_qgis.algorithms.change import ChangeAlgorithm
from dinomc_qgis.algorithms.classify import ClassifyAlgorithm
from dinomc_qgis.algorithms.embed import EmbedAlgorithm
from dinomc_qgis.algorithms.train_head import TrainHeadAlgorithm
from dinomc_qgis.settings import add_settings, remove_settings

ALGORITHMS = (ClassifyAlgorithm, ChangeAlgorithm, EmbedAlgorithm, TrainHeadAlgorithm, BatchChangeAlgorithm)
ICON = Path(__file__).resolve().parent / "icons" / "dinomc.svg"


class DinoMCProvider(QgsProcessingProvider):
    """Land-cover maps, change maps, embeddings and classifier training with DINO-MC models (run in a worker)."""

    def id(self) -> str:
        return "dinomc"

    def name(self) -> str:
        return "DINO-MC"

    def longName(self) -> str:  # noqa: N802 (QGIS's name)
        return "DINO-MC self-supervised remote-sensing models"

    def icon(self) -> QIcon:
        return QIcon(str(ICON))

    def load(self) -> bool:
        add_settings(self.name())
        self.refreshAlgorithms()
        return True

    def unload(self) -> None:
        remove_settings()

    def loadAlgorithms(self) -> None:  # noqa: N802 (QGIS's name)
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm())

    def supportedOutputRasterLayerExtensions(self) -> list[str]:  # noqa: N802 (QGIS's name)
        return ["tif"]

    def supportedOutputVectorLayerExtensions(self) -> list[str]:  # noqa: N802 (QGIS's name)
        return ["gpkg"]

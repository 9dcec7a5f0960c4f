"""The plugin object QGIS loads: it registers the Processing provider, also under ``qgis_process`` (no GUI)."""
from __future__ import annotations

from qgis.core import Qgis, QgsApplication, QgsMessageLog

from dinomc_qgis.environment import WorkerEnvironmentError, worker_environment
from dinomc_qgis.provider import DinoMCProvider
from dinomc_qgis.settings import worker_python_setting


class DinoMCPlugin:
    """Registers the ``dinomc`` provider in ``initProcessing``; in the desktop, warns when no worker is set up."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider: DinoMCProvider | None = None

    def initProcessing(self) -> None:  # noqa: N802 (QGIS's name)
        if self.provider is None:
            self.provider = DinoMCProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802 (QGIS's name)
        self.initProcessing()
        try:
            worker_environment(worker_python_setting())
        except WorkerEnvironmentError as error:
            QgsMessageLog.logMessage(str(error), "DINO-MC", Qgis.Warning)
            self.iface.messageBar().pushWarning("DINO-MC", str(error))

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None

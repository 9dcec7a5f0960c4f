"""The plugin object QGIS loads: it registers the Processing provider, also under ``qgis_process`` (no GUI)."""
from __future__ import annotations

from qgis.core import QgsApplication

from dinomc_qgis.provider import DinoMCProvider


class DinoMCPlugin:
    """Registers the ``dinomc`` provider in ``initProcessing`` so the toolbox, the modeler and qgis_process see it."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider: DinoMCProvider | None = None

    def initProcessing(self) -> None:  # noqa: N802 (QGIS's name)
        self.provider = DinoMCProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802 (QGIS's name)
        self.initProcessing()

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None

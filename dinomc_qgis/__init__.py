"""DINO-MC QGIS plugin: a Processing provider (``dinomc``) that wraps ``dinomc_core``; it holds no ML logic."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    """QGIS entry point."""
    from dinomc_qgis.plugin import DinoMCPlugin

    return DinoMCPlugin(iface)

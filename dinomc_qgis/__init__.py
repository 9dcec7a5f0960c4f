"""DINO-MC QGIS plugin: a Processing provider (``dinomc``) that runs ``dinomc_core``'s CLIs in a worker process.

It holds no ML logic and imports none of torch, timm, rasterio, shapely or geopandas: their native libraries clash
with QGIS's own, so the models run in the Python of the ``make setup`` environment instead (see ``worker.py``).
"""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    """QGIS entry point."""
    from dinomc_qgis.plugin import DinoMCPlugin

    return DinoMCPlugin(iface)

"""Styles for the layers the algorithms return: a paletted legend with class names, applied when the layer loads."""
from __future__ import annotations

from qgis.core import QgsPalettedRasterRenderer, QgsProcessingLayerPostProcessorInterface
from qgis.PyQt.QtGui import QColor

#: Post-processors must outlive the algorithm that created them (Processing applies them later, on the main thread).
_LIVE_POST_PROCESSORS: dict[str, "PalettedLegend"] = {}

CHANGE_LEGEND = ((1, "unchanged", "#e6e6e6"), (2, "changed", "#e41a1c"))


class PalettedLegend(QgsProcessingLayerPostProcessorInterface):
    """Gives a single-band class raster a paletted renderer whose entries carry the class names."""

    def __init__(self, entries: list[tuple[int, str, str]]) -> None:
        super().__init__()
        self.entries = entries

    def postProcessLayer(self, layer, context, feedback) -> None:  # noqa: N802 (QGIS's name)
        classes = [QgsPalettedRasterRenderer.Class(value, QColor(colour), label) for value, label, colour in self.entries]
        layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))
        layer.triggerRepaint()


def paletted_legend(output_path: str, entries: list[tuple[int, str, str]]) -> PalettedLegend:
    """A post-processor for ``output_path``, kept alive until the next run that writes the same path."""
    post_processor = PalettedLegend(entries)
    _LIVE_POST_PROCESSORS[output_path] = post_processor
    return post_processor


def class_legend(classes: list[dict[str, str]]) -> list[tuple[int, str, str]]:
    """Legend entries of a model's classes: raster value (0-based class id), name, colour."""
    return [(index, entry["name"], entry.get("color", "#808080")) for index, entry in enumerate(classes)]

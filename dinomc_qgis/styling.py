"""How result layers look when Processing loads them: names, paletted and categorised legends, stacking order.

Post-processors run on the main thread after each layer is added to the project. Processing adds a run's layers in
the order of their paths, so each post-processor also restacks its run's layers (e.g. change above magnitude).
"""
from __future__ import annotations

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFillSymbol,
    QgsMapLayer,
    QgsPalettedRasterRenderer,
    QgsProcessingContext,
    QgsProcessingLayerPostProcessorInterface,
    QgsProject,
    QgsRendererCategory,
)
from qgis.PyQt.QtGui import QColor

CHANGE_LEGEND = [{"id": 1, "name": "unchanged", "color": "#e6e6e6"}, {"id": 2, "name": "changed", "color": "#e41a1c"}]
"""The change raster's values (0 is nodata, left transparent)."""
CLASS_FIELD = "class_name"
"""The field of the polygon outputs that holds each region's class."""

_LIVE_POST_PROCESSORS: dict[str, QgsProcessingLayerPostProcessorInterface] = {}
"""Post-processors must outlive the algorithm that made them (Processing applies them later, on the main thread);
kept per output path until the next run that writes it."""


class RunLayers:
    """The layers one run loads, top to bottom; each is named after its input and restacked as it arrives."""

    def __init__(self) -> None:
        self.layer_ids: dict[int, str] = {}

    def restack(self, project: QgsProject) -> None:
        """Keep this run's layers together, in their declared order, where the topmost of them is."""
        nodes = [project.layerTreeRoot().findLayer(self.layer_ids[rank]) for rank in sorted(self.layer_ids)]
        nodes = [node for node in nodes if node is not None]
        if len(nodes) < 2 or any(node.parent() is not nodes[0].parent() for node in nodes):
            return
        parent = nodes[0].parent()
        top = min(parent.children().index(node) for node in nodes)
        for offset, node in enumerate(nodes):
            if parent.children().index(node) != top + offset:
                clone = node.clone()
                parent.insertChildNode(top + offset, clone)
                parent.removeChildNode(node)


class StyledLayer(QgsProcessingLayerPostProcessorInterface):
    """Names a loaded layer (unique in the project), applies its legend, and restacks its run's layers."""

    def __init__(self, run: RunLayers, rank: int, name: str, legend: list[dict] | None = None) -> None:
        super().__init__()
        self.run, self.rank, self.name, self.legend = run, rank, name, legend

    def postProcessLayer(self, layer: QgsMapLayer, context: QgsProcessingContext, feedback) -> None:  # noqa: N802
        project = context.project() or QgsProject.instance()
        layer.setName(unique_name(project, self.name, layer.id()))
        if self.legend is not None:
            apply_legend(layer, self.legend)
        self.run.layer_ids[self.rank] = layer.id()
        self.run.restack(project)
        layer.triggerRepaint()


def unique_name(project: QgsProject, name: str, own_id: str) -> str:
    """``name``, or ``name (2)``, ``(3)`` ... when other layers already carry it (repeated runs stay apart)."""
    taken = {layer.name() for layer in project.mapLayers().values() if layer.id() != own_id}
    candidate, count = name, 1
    while candidate in taken:
        count += 1
        candidate = f"{name} ({count})"
    return candidate


def apply_legend(layer: QgsMapLayer, legend: list[dict]) -> None:
    """Classes ``{id, name, color}``: a paletted renderer for a class raster, categories by class for polygons."""
    if layer.type() == QgsMapLayer.RasterLayer:
        classes = [QgsPalettedRasterRenderer.Class(entry["id"], QColor(entry["color"]), entry["name"]) for entry in legend]
        layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))
        return
    categories = []
    for entry in legend:
        symbol = QgsFillSymbol.createSimple({"color": entry["color"], "outline_color": "#333333", "outline_width": "0.1"})
        categories.append(QgsRendererCategory(entry["name"], symbol, entry["name"]))
    layer.setRenderer(QgsCategorizedSymbolRenderer(CLASS_FIELD, categories))


def load_styled(context: QgsProcessingContext, run: RunLayers, rank: int, path: str | None, name: str,
                legend: list[dict] | None = None) -> None:
    """Name and style the layer Processing loads from ``path`` (if it loads it); lower ranks stack on top."""
    if not path or not context.willLoadLayerOnCompletion(path):
        return
    post_processor = StyledLayer(run, rank, name, legend)
    _LIVE_POST_PROCESSORS[path] = post_processor
    details = context.layerToLoadOnCompletionDetails(path)
    details.name = name
    details.setPostProcessor(post_processor)

"""Tiled raster inference: land-cover, change and embedding maps on rasters of any size, and batch change detection.

The functions below are what the CLIs and the QGIS plugin call; all take an optional ``progress``
(:mod:`dinomc_core.progress`) that receives progress and may cancel the run, which then leaves no output behind.
"""
from dinomc_core.inference.batch import run_batch
from dinomc_core.inference.change import ChangeOutputs, ChangeStats, detect_change, detect_change_files
from dinomc_core.inference.classify import ClassArea, ClassifyOutputs, classify_file, classify_scene
from dinomc_core.inference.embed import embed_file, embed_scene
from dinomc_core.inference.engine import EngineOptions

__all__ = [
    "ChangeOutputs",
    "ChangeStats",
    "ClassArea",
    "ClassifyOutputs",
    "EngineOptions",
    "classify_file",
    "classify_scene",
    "detect_change",
    "detect_change_files",
    "embed_file",
    "embed_scene",
    "run_batch",
]

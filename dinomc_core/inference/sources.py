"""From a raster and a model file's metadata to what the engine reads: the model's bands, in its order, normalised."""
from __future__ import annotations

from collections.abc import Sequence

from dinomc_core.data import BandSet, Scene, match_bands, select_bands
from dinomc_core.data.bands import short_list
from dinomc_core.data.normalization import Normalization
from dinomc_core.errors import DinoMCError
from dinomc_core.inference.engine import BandSource
from dinomc_core.models import ModelMetadata
from dinomc_core.progress import Progress


def band_source(
    scene: Scene, metadata: ModelMetadata, bands: Sequence[str] | str | None = None, progress: Progress | None = None
) -> BandSource:
    """Map the raster's bands onto the model's: by name, else by central wavelength (or by the user's ``bands``,
    names or 1-based indices). A match not made by name is said in one sentence on ``progress``'s log.

    A raster that lacks a band the model needs is refused with a sentence naming the missing bands.
    """
    if bands is None:
        match = match_bands(scene.band_set, BandSet(tuple(metadata.bands)), scene.path.name)
        if match.rule != "name" and progress is not None:
            progress.log(match.sentence(scene.path.name))
        indices = match.indices
    else:
        indices = select_bands(scene.band_set, bands, scene.path.name)
    if len(indices) != len(metadata.bands):
        raise DinoMCError(
            f"the model needs {len(metadata.bands)} bands ({short_list(metadata.bands)}) but {len(indices)} were "
            "given with --bands; list one raster band per model band, in the model's order"
        )
    return BandSource(scene, indices, Normalization.from_dict(metadata.normalization))


def check_task(metadata: ModelMetadata, tasks: Sequence[str], source: str, purpose: str) -> None:
    """Refuse a model file made for another task than ``tasks``."""
    if metadata.task not in tasks:
        raise DinoMCError(
            f"{source} is a {metadata.task} model; {purpose} needs a {' or '.join(tasks)} model file"
        )

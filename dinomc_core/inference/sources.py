"""From a raster and a model file's metadata to what the engine reads: the model's bands, in its order, normalised."""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from rasterio.windows import Window

from dinomc_core.data import BandSet, Scene, match_bands, select_bands
from dinomc_core.data.bands import short_list
from dinomc_core.data.normalization import MIN_STD, Normalization, compute_normalization
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


MOMENT_WINDOWS = 4
"""Windows per side of the grid over which a raster's band moments are taken (at most 16 windows)."""

MOMENT_WINDOW_SIZE = 512
"""Side of those windows (px): up to 4 million pixels, enough for a band's mean and spread."""


def band_moments(source: BandSource) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation, in reflectance, of the valid pixels of a source's bands, taken over a
    grid of 16 windows spread over the raster (the whole raster when it is at most 2048 px on a side)."""
    scene, indices = source.scene, list(source.bands)
    # windows that tile a raster of up to 2048 px exactly, and are spread evenly without overlap over a larger one
    height = min(MOMENT_WINDOW_SIZE, math.ceil(scene.height / MOMENT_WINDOWS))
    width = min(MOMENT_WINDOW_SIZE, math.ceil(scene.width / MOMENT_WINDOWS))
    rows = np.unique(np.linspace(0, scene.height - height, MOMENT_WINDOWS).round().astype(int))
    cols = np.unique(np.linspace(0, scene.width - width, MOMENT_WINDOWS).round().astype(int))

    def windows() -> Iterator[np.ndarray]:
        for row in rows:
            for col in cols:
                window = Window(int(col), int(row), width, height)
                values = scene.read(indices, window).astype(np.float64)
                values[:, ~scene.read_valid_mask(window, indices)] = np.nan  # skipped by the moments
                yield values

    moments = compute_normalization(windows(), source.normalization.scale, max_samples=None)
    return np.asarray(moments.mean), np.asarray(moments.std)


def matched_to(source: BandSource, reference: BandSource) -> BandSource:
    """``source`` with each band first scaled to the mean and standard deviation of the same band in ``reference``
    (relative radiometric normalisation: a scene of another date, season or calibration brought to the one a
    classifier was trained on), folded into its normalisation: ``scale * s_ref / s_in`` and
    ``mean + m_in * s_ref / s_in - m_ref``."""
    own_mean, own_std = band_moments(source)
    reference_mean, reference_std = band_moments(reference)
    # a band constant in either raster (a cirrus band of zeros) is only shifted, never blown up
    gain = np.where((own_std > MIN_STD) & (reference_std > MIN_STD), reference_std / np.maximum(own_std, MIN_STD), 1.0)
    normalization = source.normalization
    matched = Normalization(np.asarray(normalization.scale) * gain,
                            np.asarray(normalization.mean) + own_mean * gain - reference_mean, normalization.std)
    return BandSource(source.scene, source.bands, matched)

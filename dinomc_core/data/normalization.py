"""Per-band normalisation: raw values are scaled to reflectance first, then standardised (model input)."""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from dinomc_core.errors import DinoMCError

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)

MIN_STD = 1e-6
"""Smallest standard deviation computed for a band, so that a constant band does not divide by zero."""


@dataclass(frozen=True)
class Normalization:
    """Per-band ``scale``, ``mean`` and ``std``: model input = (raw * scale - mean) / std, channels at dim -3.

    ``mean`` and ``std`` are in reflectance units (after ``scale``), so statistics stay meaningful when the same
    sensor is stored with another scale.
    """

    scale: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __init__(self, scale: Sequence[float], mean: Sequence[float], std: Sequence[float]) -> None:
        object.__setattr__(self, "scale", _floats("scale", scale))
        object.__setattr__(self, "mean", _floats("mean", mean))
        object.__setattr__(self, "std", _floats("std", std))
        if not len(self.scale) == len(self.mean) == len(self.std) > 0:
            raise DinoMCError(
                f"normalisation has {len(self.scale)} scales, {len(self.mean)} means and {len(self.std)} stds; "
                "give one of each per band"
            )
        for what, values in (("scale", self.scale), ("std", self.std)):
            if any(value <= 0 for value in values):
                raise DinoMCError(f"normalisation {what} {list(values)} must be positive for every band")

    @property
    def band_count(self) -> int:
        """Number of bands the normalisation is for."""
        return len(self.mean)

    def apply(self, raw: ArrayOrTensor) -> ArrayOrTensor:
        """Normalise an array or tensor ``(..., C, H, W)``; integers become float32, floats keep their type."""
        if raw.ndim < 3 or raw.shape[-3] != self.band_count:
            raise DinoMCError(
                f"normalisation is for {self.band_count} bands but the input has shape {tuple(raw.shape)} "
                "(bands must be the third dimension from the end)"
            )
        if isinstance(raw, torch.Tensor):
            return self._apply_tensor(raw)
        return self._apply_array(raw)

    def _apply_array(self, raw: np.ndarray) -> np.ndarray:
        values = raw if np.issubdtype(raw.dtype, np.floating) else raw.astype(np.float32)
        scale, mean, std = (
            np.asarray(part, dtype=values.dtype)[:, None, None] for part in (self.scale, self.mean, self.std)
        )
        return (values * scale - mean) / std

    def _apply_tensor(self, raw: torch.Tensor) -> torch.Tensor:
        values = raw if raw.is_floating_point() else raw.to(torch.float32)
        scale, mean, std = (
            torch.tensor(part, dtype=values.dtype, device=values.device)[:, None, None]
            for part in (self.scale, self.mean, self.std)
        )
        return (values * scale - mean) / std

    def to_dict(self) -> dict[str, list[float]]:
        """Plain lists for the model file's metadata."""
        return {"scale": list(self.scale), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Normalization:
        """Read the dict written by :meth:`to_dict`, checking it (a model file may come from anyone)."""
        missing = [key for key in ("scale", "mean", "std") if key not in values]
        if missing:
            raise DinoMCError(f"normalisation lacks {', '.join(missing)}; it needs per-band scale, mean and std lists")
        return cls(values["scale"], values["mean"], values["std"])


def _floats(what: str, values: Sequence[float]) -> tuple[float, ...]:
    """A tuple of finite floats, or a sentence saying what is wrong with ``values``."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise DinoMCError(f"normalisation {what} must be a list of numbers, one per band, not {values!r}")
    try:
        numbers = tuple(float(value) for value in values)
    except (TypeError, ValueError) as error:
        raise DinoMCError(f"normalisation {what} {list(values)!r} must hold numbers only") from error
    if not all(math.isfinite(number) for number in numbers):
        raise DinoMCError(f"normalisation {what} {list(numbers)} must hold finite numbers only")
    return numbers


def compute_normalization(
    samples: Iterable[Any],
    scale: Sequence[float],
    *,
    nodata: float | None = None,
    max_samples: int | None = 256,
) -> Normalization:
    """Per-band mean and std in reflectance units (raw * scale) over ``samples``, ignoring nodata.

    ``samples`` is a dataset (indexable with ``len``; items are ``(C, H, W)`` arrays or tensors, or lists of them
    for multi-date items) or any iterable of such arrays. At most ``max_samples`` items are used, spread evenly over
    a dataset. A pixel is ignored when any band is NaN or equals ``nodata`` (default: the dataset's ``nodata``).
    """
    nodata = getattr(samples, "nodata", None) if nodata is None else nodata
    moments = _BandMoments(np.asarray(scale, dtype=np.float64))
    for item in _pick_samples(samples, max_samples):
        for array in _as_arrays(item):
            moments.add(array, nodata)
    return moments.normalization()


def _pick_samples(samples: Iterable[Any], max_samples: int | None) -> Iterator[Any]:
    """Up to ``max_samples`` items: evenly spread over an indexable dataset, the first ones of an iterable."""
    if hasattr(samples, "__len__") and hasattr(samples, "__getitem__"):
        count = len(samples)
        chosen = range(count) if max_samples is None or max_samples >= count else np.linspace(0, count - 1, max_samples)
        return (samples[int(index)] for index in chosen)
    return (item for number, item in enumerate(samples) if max_samples is None or number < max_samples)


def _as_arrays(item: Any) -> list[np.ndarray]:
    """The ``(C, H, W)`` arrays in a dataset item (one image, or a list of dates)."""
    images = item if isinstance(item, (list, tuple)) else [item]
    return [image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image) for image in images]


class _BandMoments:
    """Running per-band count, sum and sum of squares (float64) of scaled values, taken from the first image's band
    means so that the sums do not cancel (a constant band keeps a spread of 0, not of rounding noise)."""

    def __init__(self, scale: np.ndarray) -> None:
        self.scale = scale
        self.count = 0
        self.shift: np.ndarray | None = None
        self.total = np.zeros(len(scale))
        self.squares = np.zeros(len(scale))

    def add(self, raw: np.ndarray, nodata: float | None) -> None:
        """Accumulate the valid pixels of one ``(C, H, W)`` image."""
        if raw.ndim != 3 or raw.shape[0] != len(self.scale):
            raise DinoMCError(
                f"a sample has shape {raw.shape} but {len(self.scale)} scales were given; samples must be (bands, H, W)"
            )
        pixels = raw.reshape(raw.shape[0], -1).astype(np.float64)
        valid = np.all(np.isfinite(pixels), axis=0)
        if nodata is not None:
            valid &= np.all(pixels != nodata, axis=0)
        values = pixels[:, valid] * self.scale[:, None]
        if values.shape[1] == 0:
            return
        if self.shift is None:
            self.shift = values.mean(axis=1)
        values -= self.shift[:, None]
        self.count += values.shape[1]
        self.total += values.sum(axis=1)
        self.squares += np.square(values).sum(axis=1)

    def normalization(self) -> Normalization:
        """The accumulated statistics as a :class:`Normalization`."""
        if self.count == 0:
            raise DinoMCError("no valid pixel was found to compute band statistics; check the data and its nodata")
        offset = self.total / self.count
        variance = np.maximum(self.squares / self.count - np.square(offset), 0.0)
        std = np.maximum(np.sqrt(variance), MIN_STD)
        return Normalization(self.scale.tolist(), (self.shift + offset).tolist(), std.tolist())

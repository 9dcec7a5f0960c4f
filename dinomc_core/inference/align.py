"""The second date on the first date's grid: reprojected window by window when CRS, transform or size differ.

Each window of the reference grid is warped from the matching (slightly larger) window of the other scene, so
aligning costs no more memory than reading. Nodata and pixels outside the other scene's footprint stay invalid:
bilinear resampling ignores invalid source pixels, and target pixels without any valid source are invalid.
"""
from __future__ import annotations

import numpy as np
from rasterio.coords import BoundingBox, disjoint_bounds
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window, from_bounds
from rasterio.windows import bounds as window_bounds
from rasterio.windows import transform as window_transform

from dinomc_core.data import Scene
from dinomc_core.errors import DinoMCError

SOURCE_MARGIN = 2
"""Extra source pixels read around each window so bilinear resampling has its neighbours."""


def scene_bounds(scene: Scene) -> BoundingBox:
    """The scene's footprint in its own CRS."""
    return BoundingBox(*window_bounds(Window(0, 0, scene.width, scene.height), scene.transform))


def same_grid(scene: Scene, reference: Scene) -> bool:
    """Whether two scenes share CRS, size and (to a thousandth of a pixel) transform."""
    return (
        scene.crs == reference.crs
        and (scene.width, scene.height) == (reference.width, reference.height)
        and scene.transform.almost_equals(reference.transform, precision=1e-3 * min(reference.res))
    )


def check_overlap(scene: Scene, reference: Scene) -> None:
    """Refuse two scenes whose footprints do not overlap, or that cannot be compared without georeferencing."""
    if scene.crs is None or reference.crs is None:
        if (scene.width, scene.height) != (reference.width, reference.height):
            raise DinoMCError(
                f"{scene.path} and {reference.path} differ in size and one has no coordinate system, so they cannot "
                "be aligned; georeference both images"
            )
        return
    bounds = transform_bounds(scene.crs, reference.crs, *scene_bounds(scene))
    reference_bounds = scene_bounds(reference)
    if disjoint_bounds(bounds, reference_bounds) or _touch_only(BoundingBox(*bounds), reference_bounds):
        raise DinoMCError(
            f"{scene.path} and {reference.path} do not overlap; give two images of the same place"
        )


def _touch_only(first: BoundingBox, second: BoundingBox) -> bool:
    """Footprints that share only an edge or a corner."""
    width = min(first.right, second.right) - max(first.left, second.left)
    height = min(first.top, second.top) - max(first.bottom, second.bottom)
    return width <= 0 or height <= 0


class AlignedScene(Scene):
    """``source`` seen through ``reference``'s grid (both georeferenced); reads return float32."""

    def __init__(self, source: Scene, reference: Scene, resampling: Resampling = Resampling.bilinear) -> None:
        self.source = source
        self.path = source.path
        self.band_names, self.names_known = source.band_names, source.names_known
        self.wavelengths = source.wavelengths
        self.width, self.height = reference.width, reference.height
        self.crs, self.transform = reference.crs, reference.transform
        self.dtype = "float32"
        self.nodata = None
        self._resampling = resampling
        self._cache: tuple[tuple, np.ndarray] | None = None

    def _read_inside(self, indices: list[int], window: Window) -> np.ndarray:
        return np.nan_to_num(self._warp(indices, window), nan=0.0)

    def _valid_inside(self, indices: list[int], window: Window) -> np.ndarray:
        return np.isfinite(self._warp(indices, window)).all(axis=0)

    def _datasets(self) -> list[DatasetReader]:
        return []

    def close(self) -> None:
        self.source.close()

    def _warp(self, indices: list[int], window: Window) -> np.ndarray:
        """The source's values on ``window`` of the reference grid, NaN where invalid (last result kept)."""
        key = (tuple(indices), int(window.col_off), int(window.row_off), int(window.width), int(window.height))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._warp_uncached(indices, window))
        return self._cache[1]

    def _warp_uncached(self, indices: list[int], window: Window) -> np.ndarray:
        target_transform = window_transform(window, self.transform)
        target = np.full((len(indices), int(window.height), int(window.width)), np.nan, dtype=np.float32)
        source_window = self._source_window(window)
        if source_window is None:
            return target
        values = self.source.read(indices, source_window, boundless=True).astype(np.float32)
        valid = self.source.read_valid_mask(source_window, indices, boundless=True)
        values[:, ~valid] = np.nan
        reproject(
            values, target,
            src_transform=window_transform(source_window, self.source.transform), src_crs=self.source.crs,
            src_nodata=np.nan, dst_transform=target_transform, dst_crs=self.crs, dst_nodata=np.nan,
            resampling=self._resampling,
        )
        return target

    def _source_window(self, window: Window) -> Window | None:
        """The window of the source covering ``window`` of the reference grid plus a margin, None when outside."""
        bounds = transform_bounds(self.crs, self.source.crs, *window_bounds(window, self.transform))
        found = from_bounds(*bounds, transform=self.source.transform)
        col0 = int(np.floor(found.col_off)) - SOURCE_MARGIN
        row0 = int(np.floor(found.row_off)) - SOURCE_MARGIN
        col1 = int(np.ceil(found.col_off + found.width)) + SOURCE_MARGIN
        row1 = int(np.ceil(found.row_off + found.height)) + SOURCE_MARGIN
        if col1 <= 0 or row1 <= 0 or col0 >= self.source.width or row0 >= self.source.height:
            return None
        return Window(col0, row0, col1 - col0, row1 - row0)


def align_to(scene: Scene, reference: Scene) -> Scene:
    """``scene`` on ``reference``'s grid: itself when the grids match, else an :class:`AlignedScene`."""
    check_overlap(scene, reference)
    if same_grid(scene, reference):
        return scene
    if scene.crs is None or reference.crs is None:
        raise DinoMCError(
            f"{scene.path} and {reference.path} lie on different grids and one has no coordinate system; "
            "georeference both images"
        )
    return AlignedScene(scene, reference)


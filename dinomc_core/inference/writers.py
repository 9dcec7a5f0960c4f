"""Georeferenced outputs: tiled, compressed GeoTIFFs (COG on request) written row by row, landed atomically.

Every output is first written to a hidden temporary file in its own folder and renamed onto its final name only
when the whole run has succeeded, so a failed or cancelled run leaves nothing behind, not even a partial file.
"""
from __future__ import annotations

import math
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from dinomc_core.errors import DinoMCError

BLOCK_SIZE = 256
TEMP_PREFIX = ".dinomc-tmp-"


@dataclass(frozen=True)
class GridSpec:
    """Where an output raster lies: CRS, transform and size (the input's, or a coarser grid for per-patch outputs)."""

    crs: CRS | None
    transform: Affine
    width: int
    height: int

    def scaled(self, factor: int) -> GridSpec:
        """The grid of cells ``factor`` pixels wide, starting at the same corner (per-patch embeddings)."""
        if factor == 1:
            return self
        return GridSpec(
            crs=self.crs,
            transform=self.transform * Affine.scale(factor),
            width=math.ceil(self.width / factor),
            height=math.ceil(self.height / factor),
        )


class OutputSet:
    """The outputs of one run: temporary files while it runs, renamed onto the final paths together at the end."""

    def __init__(self, outputs: Sequence[os.PathLike | str], inputs: Sequence[os.PathLike | str] = ()) -> None:
        self._final = [Path(path) for path in outputs]
        check_outputs(self._final, [Path(path) for path in inputs])
        self._temps: dict[Path, Path] = {}
        self._scratch: list[Path] = []

    def temp(self, final: os.PathLike | str) -> Path:
        """The temporary path to write for ``final`` (in the same folder, so the final rename is atomic)."""
        final = Path(final)
        if final not in self._temps:
            self._temps[final] = final.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex[:12]}-{final.name}"
        return self._temps[final]

    def scratch(self, folder: os.PathLike | str, suffix: str) -> Path:
        """A temporary file that is deleted at the end whatever happens (intermediate rasters)."""
        path = Path(folder) / f"{TEMP_PREFIX}{uuid.uuid4().hex[:12]}{suffix}"
        self._scratch.append(path)
        return path

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        try:
            if exc_type is None:
                self._commit()
        finally:
            for path in [*self._temps.values(), *self._scratch]:
                path.unlink(missing_ok=True)

    def _commit(self) -> None:
        for final, temp in self._temps.items():
            if temp.exists():
                os.replace(temp, final)


def check_outputs(outputs: Sequence[Path], inputs: Sequence[Path]) -> None:
    """Refuse an output that is also an input, named twice, or in a folder that does not exist or is not writable."""
    resolved_inputs = {path.resolve() for path in inputs}
    seen: set[Path] = set()
    for path in outputs:
        resolved = path.resolve()
        if resolved in resolved_inputs:
            raise DinoMCError(f"the output {path} is also an input; choose another output path")
        if resolved in seen:
            raise DinoMCError(f"the output {path} is named twice; give each output its own path")
        seen.add(resolved)
        check_writable_folder(path.parent)


def check_writable_folder(folder: Path) -> None:
    """Raise a clear error when files cannot be created in ``folder``."""
    if not folder.is_dir():
        raise DinoMCError(f"the output folder {folder} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=TEMP_PREFIX):
            pass
    except OSError:
        raise DinoMCError(f"the output folder {folder} is not writable") from None


def geotiff_profile(grid: GridSpec, count: int, dtype: str, nodata: float | None) -> dict:
    """A tiled, DEFLATE-compressed GeoTIFF profile; ``float16`` is stored as 16-bit floats (read back as float32)."""
    floating = dtype in ("float16", "float32", "float64")
    profile = dict(
        driver="GTiff",
        width=grid.width,
        height=grid.height,
        count=count,
        dtype="float32" if dtype == "float16" else dtype,
        crs=grid.crs,
        transform=grid.transform,
        nodata=nodata,
        tiled=True,
        blockxsize=BLOCK_SIZE,
        blockysize=BLOCK_SIZE,
        compress="deflate",
        predictor=3 if floating else 2,
        bigtiff="if_safer",
        interleave="band" if count > 1 else "pixel",
    )
    if dtype == "float16":
        profile["nbits"] = 16
    return profile


@dataclass
class RasterStyle:
    """What makes an output readable in QGIS and GDAL: band names, a colour table and category (class) names."""

    descriptions: Sequence[str] = ()
    colormap: Mapping[int, tuple[int, int, int, int]] | None = None
    category_names: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


class GeoTiffWriter:
    """Writes consecutive rows of one output raster and lands it in an :class:`OutputSet`.

    Rows arrive in chunks of any height (one tile stride at a time); they are buffered until a full row of
    256-pixel blocks is ready, so every compressed block is written exactly once. With ``cog`` the finished
    GeoTIFF is copied into a Cloud Optimized GeoTIFF.
    """

    def __init__(
        self,
        outputs: OutputSet,
        final: Path,
        grid: GridSpec,
        count: int,
        dtype: str,
        nodata: float | None,
        style: RasterStyle | None = None,
        cog: bool = False,
    ) -> None:
        self._outputs = outputs
        self._final = Path(final)
        self._style = style or RasterStyle()
        self._cog = cog
        self.path = outputs.scratch(self._final.parent, ".tif") if cog else outputs.temp(self._final)
        self._dataset = rasterio.open(self.path, "w", **geotiff_profile(grid, count, dtype, nodata))
        self._dtype = self._dataset.dtypes[0]
        self._pending: list[np.ndarray] = []
        self._next_row = 0
        self._apply_style()

    def _apply_style(self) -> None:
        for band, description in enumerate(self._style.descriptions, start=1):
            self._dataset.set_band_description(band, description)
        if self._style.colormap is not None:
            self._dataset.write_colormap(1, dict(self._style.colormap))
        if self._style.tags:
            self._dataset.update_tags(**self._style.tags)

    def write_rows(self, rows: np.ndarray) -> None:
        """Append rows ``(count, h, width)`` below those written so far."""
        self._pending.append(rows.astype(self._dtype, copy=False))
        buffered = sum(chunk.shape[1] for chunk in self._pending)
        full = buffered - buffered % BLOCK_SIZE
        if full:
            self._write_pending(full)

    def _write_pending(self, n_rows: int) -> None:
        data = np.concatenate(self._pending, axis=1) if len(self._pending) > 1 else self._pending[0]
        window = Window(0, self._next_row, data.shape[2], n_rows)
        self._dataset.write(data[:, :n_rows], window=window)
        self._next_row += n_rows
        self._pending = [data[:, n_rows:]] if data.shape[1] > n_rows else []

    def finish(self) -> None:
        """Write the last rows, close the file, and prepare its COG copy and class-name sidecar when asked."""
        if self._pending:
            self._write_pending(sum(chunk.shape[1] for chunk in self._pending))
        if self._next_row != self._dataset.height:
            raise RuntimeError(f"{self._next_row} of {self._dataset.height} rows were written to {self._final}")
        self._dataset.close()
        if self._cog:
            convert_to_cog(self.path, self._outputs.temp(self._final))
        if self._style.category_names:
            write_category_names(self._outputs.temp(aux_path(self._final)), self._style.category_names)

    def __enter__(self) -> GeoTiffWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if not self._dataset.closed:
            self._dataset.close()


def write_category_names(path: Path, names: Sequence[str]) -> None:
    """Write GDAL's sidecar ``.aux.xml`` with the class names of band 1 (GeoTIFF has no tag for them)."""
    categories = "".join(f"      <Category>{escape(name)}</Category>\n" for name in names)
    path.write_text(
        "<PAMDataset>\n  <PAMRasterBand band=\"1\">\n    <CategoryNames>\n"
        f"{categories}    </CategoryNames>\n  </PAMRasterBand>\n</PAMDataset>\n"
    )


def aux_path(raster_path: Path) -> Path:
    """Where GDAL looks for a raster's sidecar metadata."""
    return raster_path.with_name(raster_path.name + ".aux.xml")


def convert_to_cog(source: Path, destination: Path) -> None:
    """Copy a finished GeoTIFF into a Cloud Optimized GeoTIFF (overviews, DEFLATE) at ``destination``."""
    with rasterio.open(source) as dataset:
        predictor = "3" if dataset.dtypes[0].startswith("float") else "2"
        resampling = "nearest" if dataset.colorinterp[0].name == "palette" else "average"
    rasterio.shutil.copy(
        source, destination, driver="COG", compress="DEFLATE", predictor=predictor,
        blocksize=str(BLOCK_SIZE), overview_resampling=resampling, bigtiff="if_safer",
    )

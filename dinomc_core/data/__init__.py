"""Reading imagery, band names, normalisation and pretraining datasets (labelled data sets live beside these).

The readers of raster files (``open_scene`` and the scene classes) load GDAL (rasterio) when first used, so that
pretraining on packed data (``dinomc_core.data.packed``) runs where it is not installed.
"""
from dinomc_core.data.bands import (
    BIGEARTHNET_BANDS,
    EUROSAT_MS_BANDS,
    RGB_BANDS,
    SENTINEL2_BANDS,
    BandMatch,
    BandSet,
    canonical_band_name,
    default_scale,
    match_bands,
    rgb_indices,
    select_bands,
)
from dinomc_core.data.normalization import Normalization, compute_normalization
from dinomc_core.data.pretrain_datasets import PretrainDataset, build_pretrain_dataset

_RASTER_READERS = ("BandFolderScene", "RasterScene", "Scene", "band_files", "open_scene")


def __getattr__(name: str) -> object:
    """The raster readers, imported on first use."""
    if name in _RASTER_READERS:
        from dinomc_core.data import raster

        return getattr(raster, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BIGEARTHNET_BANDS",
    "EUROSAT_MS_BANDS",
    "RGB_BANDS",
    "SENTINEL2_BANDS",
    "BandFolderScene",
    "BandMatch",
    "BandSet",
    "Normalization",
    "PretrainDataset",
    "RasterScene",
    "Scene",
    "band_files",
    "build_pretrain_dataset",
    "canonical_band_name",
    "compute_normalization",
    "default_scale",
    "match_bands",
    "open_scene",
    "rgb_indices",
    "select_bands",
]

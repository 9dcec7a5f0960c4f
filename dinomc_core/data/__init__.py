"""Reading imagery, band names, normalisation and pretraining datasets (labelled data sets live beside these)."""
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
from dinomc_core.data.raster import BandFolderScene, RasterScene, Scene, band_files, open_scene

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

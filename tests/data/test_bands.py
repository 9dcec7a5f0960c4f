"""Band layouts, canonical names, band selection and default scales."""
from __future__ import annotations

import numpy as np
import pytest

from dinomc_core.data.bands import (
    BIGEARTHNET_BANDS,
    EUROSAT_MS_BANDS,
    SENTINEL2_BANDS,
    canonical_band_name,
    default_scale,
    rgb_indices,
    select_bands,
)
from dinomc_core.errors import DinoMCError


def test_layouts_place_b8a_where_each_data_set_stores_it() -> None:
    assert len(SENTINEL2_BANDS) == 13 and SENTINEL2_BANDS.index("B8A") == 8
    assert EUROSAT_MS_BANDS[-1] == "B8A" and EUROSAT_MS_BANDS[8] == "B09"
    assert sorted(EUROSAT_MS_BANDS) == sorted(SENTINEL2_BANDS)
    assert len(BIGEARTHNET_BANDS) == 12 and "B10" not in BIGEARTHNET_BANDS


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("B2", "B02"), ("b02", "B02"), ("B8a", "B8A"), (" B12 ", "B12"), ("Red", "red"), ("B13", "B13"), ("nir", "nir")],
)
def test_canonical_band_name(raw: str, canonical: str) -> None:
    assert canonical_band_name(raw) == canonical


def test_select_bands_by_name_follows_the_requested_order() -> None:
    assert select_bands(EUROSAT_MS_BANDS, "B04,B03,B02,B8A", names_known=True) == [3, 2, 1, 12]
    assert select_bands(SENTINEL2_BANDS, ["B2", "b8a"], names_known=True) == [1, 8]


def test_select_bands_by_one_based_index_and_all() -> None:
    names = ["1", "2", "3"]
    assert select_bands(names, "3,1", names_known=False) == [2, 0]
    assert select_bands(SENTINEL2_BANDS, "2, 3", names_known=True) == [1, 2]
    assert select_bands(names, None, names_known=False) == [0, 1, 2]


def test_select_bands_names_the_missing_and_the_available_bands() -> None:
    with pytest.raises(DinoMCError, match=r"B10.*not found.*B01, B02"):
        select_bands(BIGEARTHNET_BANDS, "B02,B10", names_known=True)


def test_select_bands_refuses_names_on_unnamed_rasters_and_repeats() -> None:
    with pytest.raises(DinoMCError, match="unnamed bands.*1 to 3"):
        select_bands(["1", "2", "3"], "B02", names_known=False)
    with pytest.raises(DinoMCError, match="twice"):
        select_bands(SENTINEL2_BANDS, "B02,2", names_known=True)
    with pytest.raises(DinoMCError, match="empty"):
        select_bands(SENTINEL2_BANDS, " , ", names_known=True)


def test_rgb_indices_from_colours_or_sentinel2_names() -> None:
    assert rgb_indices(["red", "green", "blue", "alpha"]) == (0, 1, 2)
    assert rgb_indices(EUROSAT_MS_BANDS) == (3, 2, 1)
    assert rgb_indices(["B02", "B03", "B04", "B08"]) == (2, 1, 0)
    assert rgb_indices(["B02", "B08"]) is None
    assert rgb_indices(["1", "2", "3"]) is None


def test_default_scale_per_dtype_and_sensor() -> None:
    assert default_scale("uint16", SENTINEL2_BANDS) == pytest.approx(1e-4)
    assert default_scale(np.uint8, ["red", "green", "blue"]) == pytest.approx(1 / 255)
    assert default_scale("uint16", ["1", "2"]) == pytest.approx(1 / 65535)
    assert default_scale("float32", SENTINEL2_BANDS) == 1.0
    with pytest.raises(DinoMCError, match="not numbers"):
        default_scale("complex64", ["1"])

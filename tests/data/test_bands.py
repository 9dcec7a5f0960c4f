"""Band layouts, canonical names, wavelengths, the band matcher (name, wavelength, position) and default scales."""
from __future__ import annotations

import numpy as np
import pytest

from dinomc_core.data.bands import (
    BIGEARTHNET_BANDS,
    EUROSAT_MS_BANDS,
    SENTINEL2_BANDS,
    BandSet,
    canonical_band_name,
    default_scale,
    file_band_name,
    is_sentinel2,
    match_bands,
    name_wavelength,
    name_with_wavelength,
    parse_band_request,
    rgb_indices,
    select_bands,
    to_micrometres,
)
from dinomc_core.errors import DinoMCError


def test_layouts_place_b8a_where_each_data_set_stores_it() -> None:
    assert len(SENTINEL2_BANDS) == 13 and SENTINEL2_BANDS.index("B8A") == 8
    assert EUROSAT_MS_BANDS[-1] == "B8A" and EUROSAT_MS_BANDS[8] == "B09"
    assert sorted(EUROSAT_MS_BANDS) == sorted(SENTINEL2_BANDS)
    assert len(BIGEARTHNET_BANDS) == 12 and "B10" not in BIGEARTHNET_BANDS


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("B2", "B02"), ("B1", "B01"), ("b02", "B02"), ("B8a", "B8A"), ("B08A", "B8A"), (" B12 ", "B12"), ("Red", "red"),
     ("B13", "B13"), ("nir", "nir")],
)
def test_canonical_band_name(raw: str, canonical: str) -> None:
    assert canonical_band_name(raw) == canonical


def test_select_bands_by_name_follows_the_requested_order() -> None:
    assert select_bands(BandSet(EUROSAT_MS_BANDS), "B04,B03,B02,B8A") == [3, 2, 1, 12]
    assert select_bands(BandSet(SENTINEL2_BANDS), ["B2", "b8a"]) == [1, 8]


def test_select_bands_by_one_based_index_and_all() -> None:
    unnamed = BandSet(("1", "2", "3"), names_known=False)
    assert select_bands(unnamed, "3,1") == [2, 0]
    assert select_bands(BandSet(SENTINEL2_BANDS), "2, 3") == [1, 2]
    assert select_bands(unnamed, None) == [0, 1, 2]


@pytest.mark.parametrize("request_", ["1,2,3", "1 2 3", ["1", "2", "3"], ["1,2", "3"], [" 1 ", "2,", "3"]])
def test_band_lists_are_typed_with_commas_or_spaces(request_) -> None:
    assert parse_band_request(request_) == ["1", "2", "3"]
    assert select_bands(BandSet(("a", "b", "c")), request_) == [0, 1, 2]


def test_names_with_spaces_are_not_split() -> None:
    assert parse_band_request("Band 1 (0.4825 Micrometers),B02") == ["Band 1 (0.4825 Micrometers)", "B02"]


def test_select_bands_names_the_missing_and_the_available_bands() -> None:
    with pytest.raises(DinoMCError, match=r"B10.*not found.*B01, B02"):
        select_bands(BandSet(BIGEARTHNET_BANDS), "B02,B10")


def test_select_bands_refuses_names_on_unnamed_rasters_and_repeats() -> None:
    with pytest.raises(DinoMCError, match="unnamed bands.*1 to 3"):
        select_bands(BandSet(("1", "2", "3"), names_known=False), "B02")
    with pytest.raises(DinoMCError, match="twice"):
        select_bands(BandSet(SENTINEL2_BANDS), "B02,2")
    with pytest.raises(DinoMCError, match="empty"):
        select_bands(BandSet(SENTINEL2_BANDS), " , ")


def test_long_names_are_cut_short_in_errors() -> None:
    names = tuple(f"Resize (ETM+ Meta (Band {band}):L71119038_03820000317_MTL.txt)" for band in range(1, 7))
    with pytest.raises(DinoMCError, match="and 4 more") as refusal:
        select_bands(BandSet(names), "B09")
    assert len(str(refusal.value)) < 300


@pytest.mark.parametrize(
    ("name", "micrometres"),
    [
        ("Resize (ETM+ Meta (Band 1):L71119038_03820000317_MTL.txt) (0.482500 Micrometers)", 0.4825),
        ("NIR (865 nm)", 0.865), ("swir 1.61um", 1.61), ("B8A", 0.8647), ("b2", 0.4924), ("Landsat B2", None),
        ("red", None), ("Band 1", None),
    ],
)
def test_wavelengths_read_from_names(name: str, micrometres: float | None) -> None:
    assert name_wavelength(name) == (None if micrometres is None else pytest.approx(micrometres))


@pytest.mark.parametrize(
    ("value", "units", "micrometres"),
    [("0.4825", "Micrometers", 0.4825), ("482.5", "Nanometers", 0.4825), ("865", None, 0.865),
     ("0.865", "Unknown", 0.865), ("3", "Unknown", None), ("12.5", "GHz", None), ("n/a", "nm", None)],
)
def test_wavelength_units(value: str, units: str | None, micrometres: float | None) -> None:
    assert to_micrometres(value, units) == (None if micrometres is None else pytest.approx(micrometres))


def test_bands_of_two_scenes_with_other_names_match_by_wavelength() -> None:
    first = BandSet(tuple(f"Band {band}:sceneA" for band in (1, 2, 3)), wavelengths=(0.4825, 0.565, 0.66))
    second = BandSet(tuple(f"Band {band}:sceneB" for band in (3, 1, 2)), wavelengths=(0.66, 0.4825, 0.565))
    match = match_bands(second, first)
    assert match.indices == [1, 2, 0] and match.rule == "wavelength"
    assert match.sentence("b.dat") == "b.dat: bands matched by wavelength (0.482, 0.565, 0.66 µm)"


def test_a_sentinel2_model_finds_its_bands_by_wavelength_and_neighbours_stay_apart() -> None:
    envi = BandSet(tuple(f"Band {number}" for number in range(1, 5)), wavelengths=(0.4921, 0.5597, 0.8329, 0.8648))
    assert match_bands(envi, BandSet(("B02", "B03", "B8A", "B08"))).indices == [0, 1, 3, 2]
    with pytest.raises(DinoMCError, match="needs band\\(s\\) B04"):
        match_bands(envi, BandSet(("B02", "B04")))


def test_names_win_over_wavelengths_and_numbers_are_positions() -> None:
    named = BandSet(("B04", "B03", "B02"), wavelengths=(0.49, 0.56, 0.66))  # names are what the user sees
    assert match_bands(named, BandSet(("B02",))).indices == [2]
    unnamed = BandSet(("1", "2", "3"), names_known=False)
    position = match_bands(unnamed, BandSet(("3", "1")))
    assert position.indices == [2, 0] and position.sentence("x.tif") == "x.tif: bands 3, 1 taken by position"
    assert match_bands(unnamed, BandSet(("B04", "B03", "B02")), unnamed_by_position=True).indices == [0, 1, 2]
    with pytest.raises(DinoMCError, match="3 unnamed bands"):
        match_bands(unnamed, BandSet(("B04", "B03", "B02")))


def test_landsat_band_files_are_not_sentinel2_bands() -> None:
    assert file_band_name("B1", "LC08_L1TP_044034_20200708_20200913_02_T1_B1.TIF") == "Landsat B1"
    assert file_band_name("B10", "L71119038_03820000317_B10.TIF") == "Landsat B10"
    assert file_band_name("B10", "LC80440342014077LGN00_B10.TIF") == "Landsat B10"
    assert file_band_name("B1", "T31UDQ_20170829T105019_B1.tif") == "B01"
    assert canonical_band_name("Landsat B1") == "Landsat B1" and not is_sentinel2(["Landsat B1"])


def test_names_keep_a_wavelength_only_the_metadata_knew() -> None:
    assert name_with_wavelength("Band 1:sceneA", 0.4825) == "Band 1:sceneA (0.4825 Micrometers)"
    assert name_with_wavelength("B02", 0.4924) == "B02" and name_with_wavelength("red", None) == "red"


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

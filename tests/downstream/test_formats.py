"""Format names and the options some formats need."""
from __future__ import annotations

import pytest

from dinomc_core.downstream.formats import DataOptions, load_change_cities, load_chips
from dinomc_core.errors import DinoMCError


def test_formats_by_name(shared_data):
    assert len(load_chips("eurosat", shared_data / "eurosat_ms", DataOptions())) == 80
    bigearthnet = load_chips("bigearthnet", shared_data / "bigearthnet_s2", DataOptions(nomenclature=43))
    assert len(bigearthnet.classes) == 43 and sum(chip.split == "val" for chip in bigearthnet.chips) == 1
    cities = load_change_cities("oscd", shared_data / "oscd", DataOptions(val_cities=("paris", "pisa")))
    assert {city.name for city in cities if city.split == "val"} == {"paris", "pisa"}


def test_missing_options_and_unknown_formats_are_errors(shared_data):
    landsat = shared_data / "landsat_rgb" / "RGB.byte.tif"
    with pytest.raises(DinoMCError, match="needs --labels"):
        load_chips("raster", landsat, DataOptions())
    with pytest.raises(DinoMCError, match="needs --class-field"):
        load_chips("vector", landsat, DataOptions(labels="x.gpkg"))
    with pytest.raises(DinoMCError, match="unknown chip format"):
        load_chips("sen12ms", landsat, DataOptions())
    with pytest.raises(DinoMCError, match="not 'eurosat'"):
        load_change_cities("eurosat", landsat, DataOptions())

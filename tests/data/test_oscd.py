"""OSCD reader on the ten real cities."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from dinomc_core.data.oscd import IMAGES_FOLDER, list_cities, read_change_mask, read_city
from dinomc_core.errors import DinoMCError

RGB = ["B04", "B03", "B02"]


def test_city_lists_and_validation_hold_out(shared_data):
    cities = list_cities(shared_data / "oscd")
    assert len(cities) == 10 and sum(city.split == "val" for city in cities) == 2
    chosen = list_cities(shared_data / "oscd", ["paris", "pisa"])
    assert sorted(city.name for city in chosen if city.split == "val") == ["paris", "pisa"]
    assert list_cities(shared_data / "oscd" / IMAGES_FOLDER)[0].label.name.endswith("-cm.tif")
    with pytest.raises(DinoMCError, match="atlantis"):
        list_cities(shared_data / "oscd", ["atlantis"])


def test_smaller_second_date_is_cropped_to_the_common_extent(shared_data):
    city = next(c for c in list_cities(shared_data / "oscd") if c.name == "saclay_e")
    pair = read_city(city, RGB)
    assert pair.before.shape == pair.after.shape == (3, 631, 679)
    assert pair.change.shape == (631, 679) and pair.change.dtype == bool


def test_change_labels_read_as_1_2_cover_a_few_percent(shared_data):
    for city in list_cities(shared_data / "oscd"):
        fraction = read_change_mask(city.label).mean()
        assert 0.002 < fraction < 0.04, city.name


def test_png_labels_agree_with_tif_labels(shared_data):
    city = next(c for c in list_cities(shared_data / "oscd") if c.name == "aguasclaras")  # anti-aliased RGB png
    from_tif = read_change_mask(city.label)
    from_png = read_change_mask(city.label.with_name("cm.png"))
    assert from_png.shape == from_tif.shape and np.mean(from_png == from_tif) > 0.99


def test_missing_label_is_an_error(shared_data, tmp_path):
    images = tmp_path / IMAGES_FOLDER
    (images / "paris").mkdir(parents=True)
    for date in ("imgs_1", "imgs_2"):
        (images / "paris" / date).symlink_to(shared_data / "oscd" / IMAGES_FOLDER / "paris" / date)
    (images / "train.txt").write_text("paris")
    (city,) = list_cities(tmp_path, val_count=0)
    with pytest.raises(DinoMCError, match="change label of paris"):
        read_city(city, RGB)
    shutil.rmtree(images / "paris")
    with pytest.raises(DinoMCError, match="imgs_1"):
        list_cities(tmp_path, val_count=0)

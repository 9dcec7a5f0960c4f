"""BigEarthNet-S2 reader on the six real patches."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dinomc_core.data.bands import BIGEARTHNET_BANDS
from dinomc_core.data.bigearthnet import GROUPS_43_TO_19, LABELS_19, LABELS_43, load_bigearthnet, to_indices
from dinomc_core.errors import DinoMCError

PATCH = "S2A_MSIL2A_20170613T101031_87_48"  # Non-irrigated arable land + Land principally occupied by agriculture...


def test_labels_in_both_nomenclatures(shared_data):
    root = shared_data / "bigearthnet_s2"
    for nomenclature, expected in ((43, (11, 20)), (19, (2, 6))):
        chips = load_bigearthnet(root, nomenclature)
        assert len(chips) == 6 and chips.multilabel and len(chips.classes) == nomenclature
        chip = next(c for c in chips.chips if c.source.name == PATCH)
        assert chip.target == expected
    assert LABELS_19[2] == "Arable land"


def test_mapping_covers_each_19_class_once_and_leaves_eleven_labels_out():
    used = [index for group in GROUPS_43_TO_19 for index in group]
    assert len(used) == len(set(used)) == 32 and len(LABELS_43) - len(used) == 11
    assert to_indices(["Airports"], 19, "x") == ()
    assert to_indices(["Sea and ocean", "Estuaries"], 19, "x") == (18,)


def test_patch_is_read_on_the_10m_grid(shared_data):
    chips = load_bigearthnet(shared_data / "bigearthnet_s2")
    assert chips.band_names == list(BIGEARTHNET_BANDS)
    patch = chips.read(0)
    assert patch.shape == (12, 120, 120) and patch.dtype == np.uint16
    assert chips.gsd == 10.0


def _copy_patch(source, target, labels):
    target.mkdir(parents=True)
    for band in source.glob("*.tif"):
        (target / band.name).symlink_to(band)
    if labels is not None:
        (target / f"{target.name}_labels_metadata.json").write_text(json.dumps({"labels": labels}))


def test_missing_or_unknown_labels_are_errors(shared_data, tmp_path):
    source = shared_data / "bigearthnet_s2" / PATCH
    _copy_patch(source, tmp_path / "missing" / PATCH, None)
    with pytest.raises(DinoMCError, match="label file .* is missing"):
        load_bigearthnet(tmp_path / "missing")
    _copy_patch(source, tmp_path / "unknown" / PATCH, ["Lunar regolith"])
    with pytest.raises(DinoMCError, match="Lunar regolith"):
        load_bigearthnet(tmp_path / "unknown")

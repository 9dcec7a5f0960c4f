"""EuroSAT reader on the real 80-image multispectral sample."""
from __future__ import annotations

import numpy as np
import pytest

from dinomc_core.data.bands import EUROSAT_MS_BANDS
from dinomc_core.data.eurosat import EUROSAT_CLASSES, find_class_root, load_eurosat
from dinomc_core.errors import DinoMCError

TIF_ROOT = "eurosat_ms/ds/images/remote_sensing/otherDatasets/sentinel_2/tif"


def test_official_root_gives_ten_classes_and_the_shipped_splits(shared_data):
    chips = load_eurosat(shared_data / "eurosat_ms")
    assert chips.classes == list(EUROSAT_CLASSES)
    assert len(chips) == 80
    assert sum(chip.split == "train" for chip in chips.chips) == 60
    assert sum(chip.split == "val" for chip in chips.chips) == 20
    assert all(sum(1 for c in chips.subset("val").chips if c.target == (k,)) == 2 for k in range(10))
    assert chips.gsd == 10.0 and chips.chip_size == 64 and len(set(chips.colors)) == 10


def test_bands_are_named_with_b8a_last(shared_data):
    chips = load_eurosat(shared_data / "eurosat_ms")
    assert chips.band_names == list(EUROSAT_MS_BANDS) and chips.band_names[-1] == "B8A"
    chip = chips.read(0)
    assert chip.shape == (13, 64, 64) and chip.dtype == np.uint16
    means = np.mean([chips.read(i).reshape(13, -1).mean(axis=1) for i in range(len(chips))], axis=0)
    assert means[chips.band_names.index("B10")] < 50  # cirrus band is nearly empty
    assert means[chips.band_names.index("B8A")] > 2 * means[chips.band_names.index("B09")]


def test_folder_of_class_folders_is_accepted_without_splits(shared_data):
    chips = load_eurosat(shared_data / TIF_ROOT)
    assert len(chips) == 80 and all(chip.split is None for chip in chips.chips)
    assert find_class_root(shared_data / "eurosat_ms") == shared_data / TIF_ROOT


def test_missing_folder_and_foreign_class_are_errors(shared_data, tmp_path):
    with pytest.raises(DinoMCError, match="does not exist"):
        load_eurosat(tmp_path / "nowhere")
    (tmp_path / "Forest").mkdir()
    (tmp_path / "Forest" / "Forest_1.tif").symlink_to(next((shared_data / TIF_ROOT / "Forest").iterdir()))
    (tmp_path / "Glacier").mkdir()
    (tmp_path / "Glacier" / "Glacier_1.tif").symlink_to(next((shared_data / TIF_ROOT / "River").iterdir()))
    with pytest.raises(DinoMCError, match="Glacier"):
        load_eurosat(tmp_path)


def test_empty_class_folder_is_an_error(shared_data, tmp_path):
    (tmp_path / "Forest").mkdir()
    (tmp_path / "Forest" / "Forest_1.tif").symlink_to(next((shared_data / TIF_ROOT / "Forest").iterdir()))
    (tmp_path / "River").mkdir()
    with pytest.raises(DinoMCError, match="River"):
        load_eurosat(tmp_path)


def test_rgb_jpeg_layout(shared_data, tmp_path):
    """The RGB zip's layout (2750/<Class>/<Class>_<n>.jpg), written from real chips' B04, B03, B02."""
    import rasterio

    for name in ("Forest", "River"):
        (tmp_path / "2750" / name).mkdir(parents=True)
        for number, source in enumerate(sorted((shared_data / TIF_ROOT / name).iterdir())[:2]):
            with rasterio.open(source) as chip:
                rgb = np.clip(chip.read([4, 3, 2]) / 3000 * 255, 0, 255).astype(np.uint8)
            with rasterio.open(tmp_path / "2750" / name / f"{name}_{number}.jpg", "w", driver="JPEG", width=64, height=64,
                               count=3, dtype="uint8") as target:
                target.write(rgb)
    chips = load_eurosat(tmp_path)
    assert chips.classes == ["Forest", "River"] and chips.band_names == ["red", "green", "blue"]
    assert chips.read(0).shape == (3, 64, 64) and chips.read(0).dtype == np.uint8

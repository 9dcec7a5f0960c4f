"""Change training on real OSCD crops: patches favour change, the loss, selection on validation cities."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from dinomc_core.data.normalization import Normalization
from dinomc_core.data.oscd import list_cities, read_city
from dinomc_core.downstream.change_model import ChangeModel
from dinomc_core.downstream.change_training import ChangePatches, log_odds, prior_offset, train_change_model
from dinomc_core.downstream.runtime import setup_runtime
from dinomc_core.errors import DinoMCError
from dinomc_core.models import load_model

BANDS = ["B04", "B03", "B02", "B08"]
NORMALIZATION = Normalization([1e-4] * 4, [0.1] * 4, [0.05] * 4)


@pytest.fixture(scope="module")
def city_pairs(shared_data):
    cities = {city.name: city for city in list_cities(shared_data / "oscd")}
    pairs = [read_city(cities[name], BANDS) for name in ("rennes", "bercy")]
    return [replace(p, before=p.before[:, :128, :128], after=p.after[:, :128, :128], change=p.change[:128, :128]) for p in pairs]


def test_half_of_the_patches_hold_change(city_pairs):
    patches = ChangePatches(city_pairs, NORMALIZATION, patch_size=32, length=200, change_share=0.5)
    with_change = np.mean([float(patches[i][2].max()) for i in range(200)])
    city_share = np.mean([p.change.mean() for p in city_pairs])
    assert with_change > 0.5 and city_share < 0.05
    before, after, change = patches[0]
    assert before.shape == after.shape == (4, 32, 32) and change.shape == (1, 32, 32)
    assert torch.equal(patches[3][0], patches[3][0])  # a patch is a function of (seed, epoch, index)
    with pytest.raises(DinoMCError, match="smaller than the 256 px"):
        ChangePatches(city_pairs, NORMALIZATION, patch_size=256, length=1)


def test_prior_correction_lowers_logits_by_the_oversampling_log_odds(city_pairs):
    patches = ChangePatches(city_pairs, NORMALIZATION, patch_size=32, length=8, change_share=0.5)
    city_rate = np.mean([p.change.mean() for p in city_pairs])
    assert patches.change_rate() > 1.5 * city_rate
    offset = prior_offset(city_pairs, patches)
    assert offset < 0 and log_odds(0.5) == 0.0
    assert offset == pytest.approx(log_odds(sum(p.change.sum() for p in city_pairs) / sum(p.change.size for p in city_pairs)) - log_odds(patches.change_rate()))


def test_training_keeps_the_best_validation_epoch(city_pairs, encoder_file):
    encoder = load_model(encoder_file("resnet18", tuple(BANDS)))
    model = ChangeModel(encoder, width=8)
    history = train_change_model(model, city_pairs[:1], city_pairs[1:], NORMALIZATION, setup_runtime("cpu"),
                                 epochs=2, patches_per_epoch=16, patch_size=64, batch_size=8)
    assert [entry["epoch"] for entry in history] == [1, 2]
    assert all(0.0 <= entry["val_f1"] <= 1.0 for entry in history)
    assert float(model.decoder.prior_logit_offset) < 0
    x, offset = torch.randn(1, 4, 64, 64), model.decoder.prior_logit_offset.clone()
    with torch.no_grad():
        corrected = model.eval()(x, x)
        model.decoder.prior_logit_offset.zero_()
        shift = corrected - model(x, x)
    assert torch.allclose(shift, offset.expand_as(shift), atol=1e-5)

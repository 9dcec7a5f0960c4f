"""Chip heads keep the encoder's statistics only where they score better out of fold on the training chips."""
from __future__ import annotations

import pytest
import torch

from dinomc_core.downstream.chip_heads import fit_chip_head
from dinomc_core.downstream.features import ChipStatistics

STATISTICS = ChipStatistics((2, 400), (1, 32), (True, False), band_texture=True)  # bands: mean, std, texture; encoder


SEPARATION = 2.0


def chips(informative: str, seed: int = 0, per_class: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused features of 3 classes whose classes show only in the band means (the encoder's statistics then vary
    most along a few axes unrelated to them) or only in the encoder's statistics."""
    generator = torch.Generator().manual_seed(seed)
    targets = torch.arange(3).repeat_interleave(per_class)
    features = torch.randn(len(targets), STATISTICS.dim, generator=generator)
    if informative == "bands":  # an unhelpful encoder: a few strong axes unrelated to the classes
        latent = torch.randn(len(targets), 3, generator=generator)
        features[:, 6:] += 3.0 * latent @ torch.randn(3, STATISTICS.dim - 6, generator=generator)
    columns = slice(0, 2) if informative == "bands" else slice(6, None)  # the band means, or the encoder
    pattern = torch.nn.functional.one_hot(targets, 3).float().repeat(1, STATISTICS.dim // 3 + 1)[:, : STATISTICS.dim]
    features[:, columns] += SEPARATION * pattern[:, columns]
    return features, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_vote_drops_an_encoder_whose_statistics_only_blur_the_bands(seed):
    features, targets = chips("bands", seed)
    choice = fit_chip_head(features, targets, STATISTICS, 3, False, "knn", seed=seed)
    assert choice.features == "bands" and choice.scores["bands"] > choice.scores["fused"]
    assert torch.equal(choice.head.scaler.scale[6:], torch.zeros(400)) and bool((choice.head.scaler.scale[:6] > 0).all())


@pytest.mark.parametrize("protocol", ["knn", "linear"])
def test_an_encoder_that_carries_the_classes_is_kept(protocol):
    features, targets = chips("encoder")
    choice = fit_chip_head(features, targets, STATISTICS, 3, False, protocol)
    assert choice.features == "fused" and choice.scores["fused"] > choice.scores["bands"] + 0.3
    assert bool((choice.head.scaler.scale > 0).all())
    assert choice.report() == {"chosen": "fused", "out_of_fold_scores": choice.scores}
    test_features, test_targets = chips("encoder", seed=1)
    with torch.no_grad():
        assert (choice.head(test_features).argmax(1) == test_targets).float().mean() > 0.9


def test_statistics_without_an_encoder_level_have_one_choice():
    bands_only = ChipStatistics((2,), (1,), (True,), band_texture=True)
    features, targets = chips("bands")
    choice = fit_chip_head(features[:, :6], targets, bands_only, 3, False, "knn")
    assert choice.features == "fused" and list(choice.scores) == ["fused"]

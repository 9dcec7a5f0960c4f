"""Full fine-tuning on real EuroSAT chips: every weight moves, the best validation epoch is kept."""
from __future__ import annotations

import torch

from dinomc_core.data.bands import SENTINEL2_BANDS
from dinomc_core.data.eurosat import load_eurosat
from dinomc_core.data.normalization import Normalization
from dinomc_core.downstream.features import ChipTensors, match_bands
from dinomc_core.downstream.finetune import finetune_classifier
from dinomc_core.downstream.runtime import setup_runtime
from dinomc_core.downstream.task_model import ChipClassifier, LinearHead
from dinomc_core.models import load_model


def test_encoder_and_head_are_trained_and_best_epoch_restored(encoder_file, shared_data):
    chips = load_eurosat(shared_data / "eurosat_ms")
    encoder = load_model(encoder_file("resnet18"))
    normalization = Normalization.from_dict(encoder.metadata.normalization)
    bands = match_bands(chips.band_names, True, SENTINEL2_BANDS)
    train, val = chips.subset("train"), chips.subset("val")
    model = ChipClassifier(encoder.train(), LinearHead(512, 10), False, 64)
    stem_before = model.encoder.model.conv1.weight.detach().clone()
    history = finetune_classifier(model, ChipTensors(train, bands, normalization, augment=True), ChipTensors(val, bands, normalization),
                                  setup_runtime("cpu"), epochs=2, batch_size=16)
    assert [entry["epoch"] for entry in history] == [1, 2]
    assert not torch.equal(model.encoder.model.conv1.weight, stem_before)
    assert all(0.0 <= entry["val_score"] <= 1.0 and entry["train_loss"] > 0 for entry in history)

"""Whole runs: output files, model metadata, and refusals before anything is written."""
from __future__ import annotations

from dataclasses import replace

import pytest

from dinomc_core.data.eurosat import load_eurosat
from dinomc_core.downstream.runs import TrainOptions, evaluate_chips, prepare_output, train_chip_classifier
from dinomc_core.downstream.runtime import setup_runtime
from dinomc_core.errors import DinoMCError


def test_a_class_without_training_samples_is_refused(encoder_file, shared_data, tmp_path):
    chips = load_eurosat(shared_data / "eurosat_ms")
    without_river = replace(chips, chips=[c for c in chips.chips if not (c.target == (8,) and c.split == "train")])
    with pytest.raises(DinoMCError, match="River have no samples"):
        train_chip_classifier(encoder_file("resnet18"), without_river, False, tmp_path / "out", TrainOptions(), setup_runtime("cpu"))
    assert not (tmp_path / "out" / "model.dinomc").exists()


def test_knn_model_metadata_and_evaluation_of_another_class_order(encoder_file, shared_data, tmp_path):
    chips = load_eurosat(shared_data / "eurosat_ms")
    metrics = train_chip_classifier(encoder_file("resnet18"), chips, False, tmp_path / "knn", TrainOptions(protocol="knn"), setup_runtime("cpu"))
    assert metrics["history"] == [] and not (tmp_path / "knn" / "training_curves.png").exists()
    reversed_classes = replace(chips.subset("val"), classes=chips.classes[::-1],
                               chips=[replace(c, target=(9 - c.target[0],)) for c in chips.subset("val").chips])
    evaluated = evaluate_chips(tmp_path / "knn" / "model.dinomc", reversed_classes, tmp_path / "eval", setup_runtime("cpu"))
    assert evaluated["accuracy"] == pytest.approx(metrics["accuracy"])
    assert evaluated["classes"] == chips.classes


def test_output_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DinoMCError, match="is a file"):
        prepare_output(tmp_path / "file")

"""Shipped models: resolved by name wherever a model file is accepted, listed and added with python -m dinomc_core.models."""
import json

import pytest
import torch

import dinomc_core
from dinomc_core.errors import DinoMCError
from dinomc_core.models import __main__ as models_cli
from dinomc_core.models import read_metadata, registry, resolve_model_path, shipped_models
from tests.models.test_modelfile import write_encoder


@pytest.fixture
def shipped_folder(tmp_path, monkeypatch):
    """An empty folder standing in for the package's shipped models."""
    folder = tmp_path / "shipped"
    monkeypatch.setattr(registry, "SHIPPED_FOLDER", folder)
    monkeypatch.setattr(models_cli, "SHIPPED_FOLDER", folder)
    return folder


def test_an_existing_file_is_taken_as_given(tmp_path, shipped_folder):
    write_encoder(tmp_path / "mine.dinomc")
    assert resolve_model_path(tmp_path / "mine.dinomc") == tmp_path / "mine.dinomc"


def test_a_shipped_model_is_used_by_name_in_half_precision(tmp_path, shipped_folder, capsys):
    original = write_encoder(tmp_path / "encoder.dinomc")
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"data": "OSCD", "validation": {"eurosat_cv_knn": 61.2}}))
    assert models_cli.main(["ship", str(tmp_path / "encoder.dinomc"), "test-encoder", "--provenance", str(facts)]) == 0
    assert (shipped_folder / "test-encoder.dinomc").is_file()

    loaded = dinomc_core.load_model("test-encoder")
    image = torch.randn(1, 4, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(image), original(image), rtol=0.02, atol=0.02)
    provenance = read_metadata("test-encoder").provenance
    assert provenance["data"] == "OSCD" and provenance["test"] is True  # added to what the file recorded

    capsys.readouterr()
    assert models_cli.main([]) == 0
    listing = capsys.readouterr().out
    assert "test-encoder: encoder, resnet18, 4 bands (B02 B03 B04 B08)" in listing
    assert "eurosat_cv_knn 61.2" in listing


def test_an_unknown_name_lists_the_shipped_models(tmp_path, shipped_folder):
    write_encoder(tmp_path / "encoder.dinomc")
    models_cli.main(["ship", str(tmp_path / "encoder.dinomc"), "test-encoder"])
    with pytest.raises(DinoMCError, match="neither an existing .dinomc file nor a shipped model .shipped: test-encoder."):
        dinomc_core.load_model("sentinel2-typo")


def test_a_provenance_file_that_is_not_an_object_is_refused(tmp_path, shipped_folder):
    write_encoder(tmp_path / "encoder.dinomc")
    facts = tmp_path / "facts.json"
    facts.write_text("[1, 2]")
    with pytest.raises(DinoMCError, match="must hold a JSON object"):
        models_cli.main(["ship", str(tmp_path / "encoder.dinomc"), "x", "--provenance", str(facts)])
    assert not shipped_folder.exists() or not list(shipped_folder.iterdir())


def test_the_shipped_models_load_by_name_fit_the_budget_and_record_their_validation():
    shipped = shipped_models()
    assert "sentinel2-encoder" in shipped
    assert sum(path.stat().st_size for path in shipped.values()) <= 20e6  # the package's budget for its models
    for name in shipped:
        provenance = read_metadata(name).provenance
        assert {"data", "compute", "validation"} <= set(provenance), name
    encoder = dinomc_core.load_model("sentinel2-encoder")
    assert encoder.metadata.bands == ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10",
                                      "B11", "B12"]
    assert 9.5 < encoder.metadata.gsd < 10.5  # 10 m pixels (measured on the OSCD scenes, stored in degrees)
    assert all(tensor.dtype == torch.float32 for tensor in encoder.state_dict().values() if tensor.is_floating_point())
    validation = encoder.metadata.provenance["validation"]
    assert {"eurosat_cv_knn", "random_encoder_fused_eurosat_cv_knn", "band_statistics_eurosat_cv_linear"} <= set(validation)


def test_the_finetune_cli_takes_the_shipped_encoder_by_name(shared_data, tmp_path):
    from dinomc_core.errors import run_cli
    from dinomc_core.finetune import main as finetune

    out = tmp_path / "knn"
    argv = ["classify", "--encoder", "sentinel2-encoder", "--data", str(shared_data / "eurosat_ms"), "--format",
            "eurosat", "--protocol", "knn", "--out", str(out), "--device", "cpu", "--quiet"]
    assert run_cli(finetune, argv) == 0
    assert read_metadata(out / "model.dinomc").provenance["finetune"]["encoder_file"] == "sentinel2-encoder"
    assert json.loads((out / "metrics.json").read_text())["accuracy"] > 0.1  # above chance (10 classes)

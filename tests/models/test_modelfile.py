import io
import json
import zipfile

import pytest
import torch

import dinomc_core
from dinomc_core.errors import DinoMCError
from dinomc_core.models import create_backbone, encoder_tensors, metadata_for_backbone, read_model_file, save_model_file


def write_encoder(path, arch="resnet18", bands=("B02", "B03", "B04", "B08")):
    backbone = create_backbone(arch, in_chans=len(bands)).eval()
    metadata = metadata_for_backbone(
        backbone,
        bands=list(bands),
        normalization={"scale": [1e-4] * len(bands), "mean": [0.1] * len(bands), "std": [0.05] * len(bands)},
        gsd=10.0,
        tile_size=128,
        provenance={"test": True},
    )
    save_model_file(path, metadata, encoder_tensors(backbone))
    return backbone


def test_round_trip_gives_the_same_encoder_and_metadata(tmp_path):
    path = tmp_path / "encoder.dinomc"
    original = write_encoder(path, arch="vit_tiny_patch16_224")
    loaded = dinomc_core.load_model(path)
    image = torch.randn(2, 4, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(loaded(image), original(image))
    assert not loaded.training
    assert loaded.metadata.bands == ["B02", "B03", "B04", "B08"]
    assert loaded.metadata.patch_size == 16 and loaded.metadata.gsd == 10.0 and loaded.metadata.tile_size == 128
    assert not list(tmp_path.glob("*.tmp"))


def test_the_file_is_a_zip_of_json_and_safetensors(tmp_path):
    path = tmp_path / "encoder.dinomc"
    write_encoder(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["metadata.json", "weights.safetensors"]
        metadata = json.loads(archive.read("metadata.json"))
    assert metadata["format_version"] == 1 and metadata["arch"] == "resnet18" and metadata["task"] == "encoder"


def test_pickled_content_is_refused(tmp_path):
    path = tmp_path / "evil.dinomc"
    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(1)}, buffer)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("weights.safetensors", b"")
        archive.writestr("data.pkl", buffer.getvalue())
    with pytest.raises(DinoMCError, match="not a dinomc model file"):
        read_model_file(path)


def test_a_torch_checkpoint_is_not_a_model_file(tmp_path):
    path = tmp_path / "checkpoint.dinomc"
    torch.save({"teacher": {}}, path)
    with pytest.raises(DinoMCError, match="dinomc_core.convert|not a readable"):
        read_model_file(path)


def with_edited_metadata(tmp_path, edit):
    """A copy of a valid encoder file whose metadata went through ``edit`` (the weights are kept)."""
    path = tmp_path / "encoder.dinomc"
    write_encoder(path)
    with zipfile.ZipFile(path) as archive:
        metadata = json.loads(archive.read("metadata.json"))
        weights = archive.read("weights.safetensors")
    edit(metadata)
    edited = tmp_path / "edited.dinomc"
    with zipfile.ZipFile(edited, "w") as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("weights.safetensors", weights)
    return edited


def test_missing_metadata_key_is_named(tmp_path):
    broken = with_edited_metadata(tmp_path, lambda metadata: metadata.pop("normalization"))
    with pytest.raises(DinoMCError, match="lacks the metadata entries normalization"):
        read_model_file(broken)


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path):
    mismatched = with_edited_metadata(tmp_path, lambda metadata: metadata.update(arch="resnet34"))
    with pytest.raises(DinoMCError, match="do not fit a resnet34"):
        dinomc_core.load_model(mismatched)


def test_band_count_must_match_the_normalisation(tmp_path):
    backbone = create_backbone("resnet18", in_chans=2)
    metadata = metadata_for_backbone(backbone, bands=["a", "b"], normalization={"scale": [1.0], "mean": [0.0, 0.0], "std": [1.0, 1.0]})
    with pytest.raises(DinoMCError, match="2 normalisation values for 'scale'"):
        save_model_file(tmp_path / "x.dinomc", metadata, encoder_tensors(backbone))
    assert not list(tmp_path.iterdir())


def test_half_precision_weights_halve_the_file_and_load_as_float32(tmp_path):
    backbone = write_encoder(tmp_path / "full.dinomc")
    metadata, tensors = read_model_file(tmp_path / "full.dinomc")
    save_model_file(tmp_path / "half.dinomc", metadata, tensors, half_precision=True)
    full_size, half_size = (tmp_path / "full.dinomc").stat().st_size, (tmp_path / "half.dinomc").stat().st_size
    assert 0.45 < half_size / full_size < 0.55
    _, loaded = read_model_file(tmp_path / "half.dinomc")
    assert {tensor.dtype for tensor in loaded.values()} == {torch.float32, torch.int64}  # BatchNorm counters stay
    torch.testing.assert_close(loaded["encoder.model.conv1.weight"], tensors["encoder.model.conv1.weight"], rtol=1e-3, atol=1e-4)
    image = torch.randn(1, 4, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(dinomc_core.load_model(tmp_path / "half.dinomc")(image), backbone(image), rtol=0.02, atol=0.02)

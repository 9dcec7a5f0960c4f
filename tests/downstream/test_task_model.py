"""Task model files: heads stored under head., rebuilt from the metadata, dense predictions consistent with chips."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from dinomc_core.downstream.change_model import ChangeModel
from dinomc_core.downstream.features import ChipStatistics
from dinomc_core.downstream.knn import build_knn_head
from dinomc_core.data.normalization import Normalization
from dinomc_core.downstream.pixel_features import FeatureFusion, FeatureScaler, fused_layout
from dinomc_core.downstream.task_model import (
    ChipClassifier,
    LinearHead,
    MlpHead,
    PixelClassifier,
    PixelHead,
    ScaledHead,
    load_task_model,
    save_task_model,
)
from dinomc_core.errors import DinoMCError
from dinomc_core.models import load_model, read_model_file
from dinomc_core.models.modelfile import save_model_file

CLASSES = [{"name": "water", "color": "#0000ff"}, {"name": "forest", "color": "#00ff00"}, {"name": "urban", "color": "#ff0000"}]


def _save_classifier(encoder_path, path, head, multilabel=False):
    encoder = load_model(encoder_path)
    model = ChipClassifier(encoder, head, multilabel, tile_size=64)
    metadata = replace(encoder.metadata, task="multilabel" if multilabel else "classification", classes=CLASSES,
                       head=model.describe(), tile_size=64)
    save_task_model(path, model, metadata)
    return model


def test_linear_classifier_round_trip_and_dense_prediction(encoder_file, tmp_path):
    torch.manual_seed(0)
    head = LinearHead(512, 3)
    head.fit_standardisation(torch.rand(10, 512))
    original = _save_classifier(encoder_file("resnet18"), tmp_path / "model.dinomc", head).eval()
    loaded = load_task_model(tmp_path / "model.dinomc")
    assert not loaded.training and loaded.metadata.class_names == ["water", "forest", "urban"]
    assert set(read_model_file(tmp_path / "model.dinomc")[1]) >= {"head.linear.weight", "head.feature_std"}
    x = torch.randn(2, 13, 64, 64)
    with torch.no_grad():
        logits = loaded(x)
        assert torch.allclose(logits, original(x), atol=1e-5) and logits.shape == (2, 3)
        dense = loaded.predict_dense(x)
    # resnet18: stride 32, a 64 px chip is a 2x2 window; location (1, 1) pools exactly the whole chip
    assert dense.shape == (2, 3, 2, 2)
    assert torch.allclose(dense[..., 1, 1], logits.softmax(dim=1), atol=1e-5)
    assert torch.allclose(dense.sum(dim=1), torch.ones(2, 2, 2), atol=1e-5)


def test_vit_knn_multilabel_round_trip(encoder_file, tmp_path):
    features, targets = torch.randn(25, 192), (torch.rand(25, 3) > 0.5).float()
    head = build_knn_head(features, targets, 3, multilabel=True)
    _save_classifier(encoder_file("vit_tiny_patch16_224"), tmp_path / "knn.dinomc", head, multilabel=True)
    loaded = load_task_model(tmp_path / "knn.dinomc")
    assert loaded.metadata.head["type"] == "knn" and loaded.metadata.head["k"] == 20
    with torch.no_grad():
        dense = loaded.predict_dense(torch.randn(1, 13, 96, 80))
    assert dense.shape == (1, 3, 6, 5) and float(dense.min()) >= 0 and float(dense.max()) <= 1


def test_change_model_round_trip(encoder_file, tmp_path):
    encoder = load_model(encoder_file("resnet18"))
    model = ChangeModel(encoder)
    metadata = replace(encoder.metadata, task="change", classes=[{"name": "change", "color": "#ff0000"}], head=model.describe(), tile_size=96)
    save_task_model(tmp_path / "change.dinomc", model, metadata)
    loaded = load_task_model(tmp_path / "change.dinomc")
    before, after = torch.randn(1, 13, 70, 50), torch.randn(1, 13, 70, 50)
    with torch.no_grad():
        assert torch.allclose(loaded(before, after), model.eval()(before, after), atol=1e-5)


def test_encoder_only_file_is_refused(encoder_file):
    with pytest.raises(DinoMCError, match="encoder without a task head"):
        load_task_model(encoder_file("resnet18"))


def _save_statistics_classifier(encoder_path, path):
    torch.manual_seed(0)
    encoder = load_model(encoder_path)
    statistics = ChipStatistics.for_encoder(encoder, 13, 64)
    scaler = FeatureScaler(statistics.dim)
    scaler.fit(torch.randn(50, statistics.dim), statistics.group_sizes)
    head = ScaledHead(scaler, LinearHead(statistics.dim, 3), statistics.group_sizes)
    model = ChipClassifier(encoder, head, False, tile_size=64, statistics=statistics)
    metadata = replace(encoder.metadata, task="classification", classes=CLASSES, head=model.describe(), tile_size=64)
    save_task_model(path, model, metadata)
    return model


# ResNet-18 on 64 px chips: texture (std) of the bands and of the levels at strides 2, 4 and 8, not 16 and 32; its
# 2 x 2 map's location (1, 1) pools the whole chip. ViT-Tiny/16: 4 x 4 tokens, too few for texture but in the bands;
# location (2, 2) of its 4 x 4 map pools the whole chip.
@pytest.mark.parametrize("arch, with_std, whole_chip", [
    ("resnet18", (True, True, True, True, False, False), (1, 1)),
    ("vit_tiny_patch16_224", (True, False, False, False, False), (2, 2)),
])
def test_statistics_classifier_maps_what_it_classifies(encoder_file, tmp_path, arch, with_std, whole_chip):
    original = _save_statistics_classifier(encoder_file(arch), tmp_path / "stats.dinomc").eval()
    loaded = load_task_model(tmp_path / "stats.dinomc")
    assert loaded.statistics == original.statistics and loaded.metadata.head["type"] == "scaled"
    assert loaded.statistics.with_std == with_std
    x = torch.randn(2, 13, 64, 64)
    with torch.no_grad():
        logits = loaded(x)
        assert torch.allclose(logits, original(x), atol=1e-5)
        dense = loaded.predict_dense(x)
    assert torch.allclose(dense[..., whole_chip[0], whole_chip[1]], logits.softmax(dim=1), atol=1e-4)


def test_a_chip_head_of_the_earlier_feature_is_refused_in_one_sentence(encoder_file, tmp_path):
    _save_statistics_classifier(encoder_file("resnet18"), tmp_path / "stats.dinomc")
    metadata, tensors = read_model_file(tmp_path / "stats.dinomc")
    head = {key: value for key, value in metadata.head.items() if key != "statistics"}
    save_model_file(tmp_path / "old.dinomc", replace(metadata, head={**head, "band_statistics": True}), tensors)
    with pytest.raises(DinoMCError, match="earlier chip feature; train its head again"):
        load_task_model(tmp_path / "old.dinomc")


def test_pixel_classifier_round_trip_maps_at_pixel_resolution(encoder_file, tmp_path):
    torch.manual_seed(0)
    encoder = load_model(encoder_file("resnet18"))
    normalization = Normalization.from_dict(encoder.metadata.normalization)
    layout = fused_layout(encoder, encoder.metadata.bands)
    fusion = FeatureFusion(layout, normalization, encoder.metadata.bands)
    x = torch.randn(2, 13, 64, 64)
    with torch.no_grad():
        fusion.fit_projection([fusion.encoder_levels(encoder, x)])
        features = fusion.raw(x, fusion.encoder_levels(encoder, x)).permute(0, 2, 3, 1).reshape(-1, layout.dim)
    fusion.scaler.fit(features, list(layout.group_sizes().values()))
    head = MlpHead(layout.dim, 3)
    head.fit_standardisation(fusion.scaler(features))
    model = PixelClassifier(encoder, PixelHead(fusion, head), 128)
    metadata = replace(encoder.metadata, task="classification", classes=CLASSES, head=model.describe(), tile_size=128)
    save_task_model(tmp_path / "pixel.dinomc", model, metadata)
    loaded = load_task_model(tmp_path / "pixel.dinomc")
    assert isinstance(loaded, PixelClassifier) and loaded.metadata.head["classifier"]["type"] == "mlp"
    with torch.no_grad():
        dense = loaded.predict_dense(x)
        assert torch.allclose(dense, model.eval().predict_dense(x), atol=1e-5)
        chips = loaded(x)
    assert dense.shape == (2, 3, 64, 64) and torch.allclose(dense.sum(dim=1), torch.ones(2, 64, 64), atol=1e-5)
    assert torch.allclose(chips.exp(), dense.mean(dim=(-2, -1)), atol=1e-5)


@pytest.mark.parametrize("head_type", [LinearHead, MlpHead])
@pytest.mark.parametrize("height, width", [(5, 7), (130, 140)])  # one block of pixels, and two with a partial one
def test_folded_dense_heads_equal_scaling_then_the_head(head_type, height, width):
    torch.manual_seed(0)
    features = torch.randn(500, 6) * torch.tensor([1.0, 5.0, 0.1, 2.0, 3.0, 0.5]) + 3.0
    scaler = FeatureScaler(6)
    scaler.fit(features, [2, 4])
    head = head_type(6, 3)
    head.fit_standardisation(scaler(features))
    maps = torch.randn(2, 6, height, width) * 2 + 1
    flat = maps.permute(0, 2, 3, 1).reshape(-1, 6)
    with torch.no_grad():
        expected = head.eval()(scaler(flat)).reshape(2, height, width, 3).permute(0, 3, 1, 2)
        assert torch.allclose(head.dense(maps, scaler), expected, atol=1e-4)

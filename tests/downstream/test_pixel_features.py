"""Fused per-pixel features: groups, spectral indices, context at pixel resolution, group-weighted scaling."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dinomc_core.data.bands import SENTINEL2_BANDS
from dinomc_core.data.normalization import Normalization
from dinomc_core.downstream.pixel_features import (
    TEXTURE_SIGMA,
    TEXTURE_WINDOW_OFFSET,
    FeatureFusion,
    FeatureLayout,
    FeatureScaler,
    available_indices,
    fused_layout,
    normalised_difference,
    parse_groups,
)
from dinomc_core.errors import DinoMCError
from dinomc_core.filters import gaussian_blur, least_textured_window, neighbour_differences
from dinomc_core.models import create_backbone

NORMALIZATION = Normalization([1e-4] * 13, [0.15] * 13, [0.08] * 13)


def test_indices_follow_the_bands_present():
    assert available_indices(SENTINEL2_BANDS) == ("ndvi", "ndwi", "mndwi", "ndbi")
    assert available_indices(["B02", "B03", "B04", "B08"]) == ("ndvi", "ndwi")
    assert available_indices(["red", "green", "blue"]) == ()
    assert available_indices(["B3", "B4", "B8"]) == ("ndvi", "ndwi")  # other spellings of Sentinel-2 names


def test_layouts_of_cnn_and_vit_and_bad_groups():
    cnn = create_backbone("resnet18", 13)
    layout = fused_layout(cnn, SENTINEL2_BANDS)
    assert layout.group_sizes() == {"bands": 13, "indices": 4, "texture": 13, "context": 24}
    assert layout.levels == (2, 3, 4)
    vit = create_backbone("vit_tiny_patch16_224", 3)
    assert fused_layout(vit, ["red", "green", "blue"]).group_sizes() == {"bands": 3, "texture": 3, "context": 16}
    assert FeatureLayout.from_dict(layout.to_dict()) == layout
    with pytest.raises(DinoMCError, match="takes a comma-separated list"):
        parse_groups("bands,colour", "--features")


def test_fused_maps_are_pixel_resolution_and_hold_the_pixel_itself():
    torch.manual_seed(0)
    encoder = create_backbone("resnet18", 13).eval()
    fusion = FeatureFusion(fused_layout(encoder, SENTINEL2_BANDS), NORMALIZATION, SENTINEL2_BANDS)
    x = torch.randn(2, 13, 64, 48)
    with torch.no_grad():
        levels = fusion.encoder_levels(encoder, x)
        fusion.fit_projection([levels])
        raw = fusion.raw(x, levels)
    assert raw.shape == (2, 54, 64, 48)
    # the bands group is the normalised pixel, with the aerosol, water-vapour and cirrus bands held at their mean
    atmospheric = [SENTINEL2_BANDS.index(name) for name in ("B01", "B09", "B10")]
    surface = [index for index in range(13) if index not in atmospheric]
    assert torch.equal(raw[:, surface], x[:, surface]) and (raw[:, atmospheric] == 0).all()
    reflectance = x * 0.08 + 0.15
    ndvi = normalised_difference(reflectance[:, 7], reflectance[:, 3])
    assert torch.allclose(raw[:, 13], ndvi, atol=1e-6)
    # projecting at feature resolution then upsampling equals upsampling then projecting
    level = levels[0]
    mean, components = fusion.level0_mean, fusion.level0_components
    upsampled = F.interpolate(level, size=(64, 48), mode="bilinear", align_corners=False)
    direct = torch.einsum("kd,ndhw->nkhw", components, upsampled - mean[None, :, None, None])
    assert torch.allclose(raw[:, 30:38], direct, atol=1e-4)


def test_texture_is_zero_on_a_flat_field_and_grows_with_stripes():
    layout = fused_layout(None, ["B04", "B08"], groups=("bands", "texture"))
    normalization = Normalization([1e-4] * 2, [0.1] * 2, [0.05] * 2)
    fusion = FeatureFusion(layout, normalization, ["B04", "B08"])
    x = torch.zeros(1, 2, 64, 64)
    x[..., 32:] = torch.tensor([1.0, -1.0]).repeat(16)  # crop rows on the right half, a flat field on the left
    texture = fusion.raw(x, [])[:, 2:]
    assert layout.group_sizes() == {"bands": 2, "texture": 2} and layout.texture_window == TEXTURE_WINDOW_OFFSET
    assert float(texture[..., :16].abs().max()) < 1e-6 and float(texture[..., 44:52].min()) > 1.5
    blurred = gaussian_blur(neighbour_differences(x), TEXTURE_SIGMA)
    assert torch.allclose(texture, least_textured_window(blurred, TEXTURE_WINDOW_OFFSET))
    # a layout saved before the windows (no texture_window) keeps the texture averaged around the pixel itself
    saved = {key: value for key, value in layout.to_dict().items() if key != "texture_window"}
    older = FeatureFusion(FeatureLayout.from_dict(saved), normalization, ["B04", "B08"])
    assert torch.allclose(older.raw(x, [])[:, 2:], blurred)


def test_vit_inputs_that_are_not_whole_patches_are_reflected():
    torch.manual_seed(0)
    encoder = create_backbone("vit_tiny_patch16_224", 3).eval()
    fusion = FeatureFusion(fused_layout(encoder, ["red", "green", "blue"]), Normalization([1] * 3, [0] * 3, [1] * 3),
                           ["red", "green", "blue"])
    with torch.no_grad():
        x = torch.randn(1, 3, 40, 50)
        assert fusion.raw(x, fusion.encoder_levels(encoder, x)).shape == (1, 22, 40, 50)


def test_scaler_gives_each_group_the_same_weight():
    rng = np.random.default_rng(0)
    features = torch.from_numpy(np.concatenate([rng.normal(5, 3, (1000, 2)), rng.normal(0, 0.1, (1000, 8))], 1)).float()
    scaler = FeatureScaler(10)
    scaler.fit(features, [2, 8])
    scaled = scaler(features)
    narrow, wide = scaled[:, :2].square().sum(1).mean(), scaled[:, 2:].square().sum(1).mean()
    assert float(narrow) == pytest.approx(1.0, rel=0.05) and float(wide) == pytest.approx(1.0, rel=0.05)

"""Multi-crop views of DINO, DINO-MC and DINO-TP on real multispectral data, and each photometric operation."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from rasterio.windows import Window

from dinomc_core.data import open_scene, rgb_indices
from dinomc_core.errors import DinoMCError
from dinomc_core.ssl.augment import (
    DEFAULT_LOCAL_SIZES,
    LUMA_WEIGHTS,
    MC_LOCAL,
    SPECTRAL_BAND_GAIN,
    UNCHANGED,
    CropSpec,
    MultiCropAugmentation,
    Photometric,
    adjust_contrast_,
    color_jitter_,
    crop_specs,
    crop_window,
    draw_dates,
    global_crops_number,
    hue_rotation,
    local_crop_sizes,
    mix_rgb_,
    photometric,
    saturation_matrix,
    spectrum_preserving,
)

OSCD_PISA = "oscd/Onera Satellite Change Detection dataset - Images/pisa"
REFLECTANCE = 1e-4


@pytest.fixture(scope="module")
def pisa_dates(shared_data) -> tuple[list[str], list[torch.Tensor]]:
    """Both dates of OSCD's Pisa, 13 bands, a 256 px window, raw digital numbers."""
    dates = []
    for folder in ("imgs_1", "imgs_2"):
        with open_scene(shared_data / OSCD_PISA / folder) as scene:
            band_names = list(scene.band_names)
            dates.append(torch.from_numpy(scene.read(window=Window(200, 200, 256, 256)).astype(np.float32)))
    return band_names, dates


def augmentation(mode: str, band_names: list[str], local_sizes=DEFAULT_LOCAL_SIZES) -> MultiCropAugmentation:
    global_views, local_views = crop_specs(mode, 224, local_sizes)
    bands = len(band_names)
    return MultiCropAugmentation(
        global_views, local_views, [REFLECTANCE] * bands, [0.1] * bands, [0.05] * bands, rgb_indices(band_names)
    )


def test_dinomc_gives_two_global_and_six_multi_sized_local_views_of_13_bands(pisa_dates) -> None:
    band_names, dates = pisa_dates
    random.seed(0)
    views = augmentation("dinomc", band_names)(dates[0])
    assert [tuple(view.shape) for view in views] == [(13, 224, 224)] * 2 + [(13, s, s) for s in DEFAULT_LOCAL_SIZES]
    assert all(torch.isfinite(view).all() for view in views)
    assert 0.5 < torch.cat([view.flatten() for view in views]).std() < 20  # standardised, not raw numbers


def test_mode_recipes_follow_the_papers() -> None:
    dino_globals, dino_locals = crop_specs("dino", 224, local_crop_sizes("dino", DEFAULT_LOCAL_SIZES, None))
    assert [(spec.size, spec.scale) for spec in dino_locals] == [(96, (0.05, 0.4))] * 8
    assert [spec.scale for spec in dino_globals] == [(0.4, 1.0)] * 2
    mc_globals, mc_locals = crop_specs("dinomc", 224, DEFAULT_LOCAL_SIZES)
    assert [(spec.interpolation, spec.scale) for spec in mc_globals] == [("bicubic", (0.32, 1.0))] * 2
    assert [(spec.photometric.blur_p, spec.photometric.solarize_p) for spec in mc_globals] == [(1.0, 0.0), (0.1, 0.2)]
    assert {(spec.interpolation, spec.scale, spec.photometric) for spec in mc_locals} == {
        ("bilinear", (0.05, 0.32), MC_LOCAL)
    }
    assert (MC_LOCAL.jitter, MC_LOCAL.jitter_p, MC_LOCAL.grayscale_p, MC_LOCAL.blur_p) == ((0.8, 0.8, 0.8, 0.2), 0.8, 0.2, 0.5)
    assert [global_crops_number(mode) for mode in ("dino", "dinomc", "dinotp")] == [2, 2, 3]
    with pytest.raises(DinoMCError, match="unknown mode"):
        crop_specs("mc", 224, DEFAULT_LOCAL_SIZES)


def test_fewer_local_crops_keep_the_smallest_sizes() -> None:
    assert local_crop_sizes("dinomc", DEFAULT_LOCAL_SIZES, 4) == [144, 124, 104, 84]
    assert local_crop_sizes("dinomc", DEFAULT_LOCAL_SIZES, None) == list(DEFAULT_LOCAL_SIZES)
    assert local_crop_sizes("dino", DEFAULT_LOCAL_SIZES, 4) == [96] * 4
    with pytest.raises(DinoMCError, match="--local-sizes"):
        local_crop_sizes("dinomc", DEFAULT_LOCAL_SIZES, 7)


def test_dinotp_takes_global_views_from_other_dates(pisa_dates) -> None:
    band_names, dates = pisa_dates
    random.seed(0)
    views = augmentation("dinotp", band_names)(dates)
    assert [tuple(view.shape[-2:]) for view in views] == [(224, 224)] * 3 + [(s, s) for s in DEFAULT_LOCAL_SIZES]
    random.seed(3)
    assert all(len(set(draw_dates(5, 3))) == 3 for _ in range(20))
    assert all(sorted(draw_dates(2, 3)[:2]) == [0, 1] for _ in range(20))


def test_whole_image_view_without_distortion_is_the_standardised_image(pisa_dates) -> None:
    band_names, dates = pisa_dates
    spec = CropSpec(256, (1.0, 1.0), "bicubic", UNCHANGED)
    bands = len(band_names)
    augment = MultiCropAugmentation([spec], [], [REFLECTANCE] * bands, [0.1] * bands, [0.05] * bands, None)
    (view,) = augment(dates[0])
    assert torch.allclose(view, (dates[0] * REFLECTANCE - 0.1) / 0.05, atol=1e-4)


def test_nodata_and_nan_enter_the_model_as_zero(pisa_dates) -> None:
    _, dates = pisa_dates
    raw = dates[0].clone()
    raw[:, :10, :] = 0.0
    raw[4, 20:30, :] = float("nan")
    spec = CropSpec(256, (1.0, 1.0), "bilinear", UNCHANGED)
    augment = MultiCropAugmentation([spec], [], [REFLECTANCE] * 13, [0.1] * 13, [0.05] * 13, None, nodata=0.0)
    (view,) = augment(raw)
    assert torch.isfinite(view).all()
    assert torch.equal(view[:, :10, :], torch.zeros(13, 10, 256)) and torch.equal(view[4, 20:30], torch.zeros(10, 256))


def test_crop_windows_stay_inside_the_image_at_the_asked_area() -> None:
    random.seed(0)
    for _ in range(200):
        top, left, height, width = crop_window(264, 200, (0.05, 0.32))
        assert 0 <= top <= 264 - height and 0 <= left <= 200 - width
        assert 0.04 * 264 * 200 < height * width < 0.34 * 264 * 200
        assert 3 / 4 - 0.05 < width / height < 4 / 3 + 0.05
    assert crop_window(100, 10, (0.9, 1.0)) == (43, 0, 13, 10)  # no try fits: torchvision's central fallback


def test_grayscale_blur_and_solarisation_act_on_every_band(pisa_dates) -> None:
    _, dates = pisa_dates
    reflectance = dates[0][:, :64, :64] * REFLECTANCE
    random.seed(0)
    band_mean = reflectance.mean(dim=(1, 2), keepdim=True)
    band_std = reflectance.std(dim=(1, 2), keepdim=True)
    gray = photometric(reflectance.clone(), Photometric(flip_p=0, jitter_p=0, grayscale_p=1.0), None, band_mean, band_std)
    z = (gray - band_mean) / band_std
    assert torch.allclose(z, z[:1].expand_as(z), atol=1e-4)  # one standardised pattern for every band
    assert torch.allclose(z[0], ((reflectance - band_mean) / band_std).mean(dim=0), atol=1e-4)
    assert z.abs().max() < 10  # B10 and other narrow bands stay near their own range
    values = torch.tensor([0.1, 0.49, 0.5, 0.8, 1.3]).view(1, 1, 5)
    solarised = photometric(
        values.clone(), Photometric(flip_p=0, jitter_p=0, grayscale_p=0, solarize_p=1.0), None, torch.zeros(1, 1, 1), torch.ones(1, 1, 1)
    )
    assert solarised.flatten().tolist() == pytest.approx([0.1, 0.49, 0.5, 0.2, -0.3])


def test_contrast_pulls_every_band_towards_its_own_mean(pisa_dates) -> None:
    _, dates = pisa_dates
    reflectance = dates[0][:, :32, :32] * REFLECTANCE
    flat = reflectance.clone()
    adjust_contrast_(flat, 0.0)
    assert torch.allclose(flat, reflectance.mean(dim=(1, 2), keepdim=True).expand_as(flat))
    same = reflectance.clone()
    adjust_contrast_(same, 1.0)
    assert torch.allclose(same, reflectance)


def test_saturation_and_hue_change_rgb_bands_only(pisa_dates) -> None:
    band_names, dates = pisa_dates
    rgb = list(rgb_indices(band_names))
    others = [index for index in range(13) if index not in rgb]
    reflectance = dates[0][:, :32, :32] * REFLECTANCE
    gray = reflectance.clone()
    mix_rgb_(gray, saturation_matrix(0.0), rgb)
    luma = torch.einsum("c,chw->hw", torch.tensor(LUMA_WEIGHTS), reflectance[rgb])
    assert all(torch.allclose(gray[index], luma, atol=1e-6) for index in rgb)
    assert torch.equal(gray[others], reflectance[others])
    rotated = reflectance.clone()
    mix_rgb_(rotated, hue_rotation(0.25), rgb)
    rotated_luma = torch.einsum("c,chw->hw", torch.tensor(LUMA_WEIGHTS), rotated[rgb])
    assert not torch.allclose(rotated[rgb], reflectance[rgb], atol=1e-4)
    assert torch.allclose(rotated_luma, luma, atol=1e-3)
    assert torch.allclose(hue_rotation(1.0), torch.eye(3), atol=1e-5)


def test_colour_jitter_skips_saturation_and_hue_when_bands_are_unknown(pisa_dates) -> None:
    _, dates = pisa_dates
    reflectance = dates[0][:, :32, :32] * REFLECTANCE
    jittered = reflectance.clone()
    color_jitter_(jittered, (0.0, 0.0, 0.8, 0.2), None)
    assert torch.equal(jittered, reflectance)


def test_spectral_policy_replaces_colour_distortions_and_keeps_geometry_and_blur() -> None:
    paper_globals, paper_locals = crop_specs("dinomc", 64, [32, 24])
    assert crop_specs("dinomc", 64, [32, 24], "paper") == (paper_globals, paper_locals)
    spectral_globals, spectral_locals = crop_specs("dinomc", 64, [32, 24], "spectral")
    for paper, spectral in zip(paper_globals + paper_locals, spectral_globals + spectral_locals):
        assert (spectral.size, spectral.scale, spectral.interpolation) == (paper.size, paper.scale, paper.interpolation)
        distortions = spectral.photometric
        assert (distortions.flip_p, distortions.blur_p, distortions.jitter_p) == (
            paper.photometric.flip_p, paper.photometric.blur_p, paper.photometric.jitter_p
        )
        assert distortions.jitter == (paper.photometric.jitter[0] / 2, 0.0, 0.0, 0.0)  # a global gain only
        assert distortions.grayscale_p == 0 and distortions.solarize_p == 0
        assert distortions.band_gain > 0 and distortions.noise > 0
    _, tp_locals = crop_specs("dinotp", 64, [32], "spectral")
    assert tp_locals[0].photometric == UNCHANGED  # views without colour distortion stay without
    with pytest.raises(DinoMCError, match="unknown photometric policy 'rgb'"):
        crop_specs("dinomc", 64, [32], "rgb")


def test_spectral_policy_keeps_signatures_up_to_a_global_and_small_per_band_gains(pisa_dates) -> None:
    _, dates = pisa_dates
    reflectance = dates[0][:, :64, :64] * REFLECTANCE
    band_mean = reflectance.mean(dim=(1, 2), keepdim=True)
    band_std = reflectance.std(dim=(1, 2), keepdim=True)
    gains_only = Photometric(**{**vars(spectrum_preserving(MC_LOCAL)), "flip_p": 0.0, "blur_p": 0.0, "noise": 0.0,
                                "jitter_p": 1.0})
    random.seed(0)
    global_gains = []
    for _ in range(30):
        out = photometric(reflectance.clone(), gains_only, None, band_mean, band_std)
        gains = (out / reflectance).flatten(1)
        assert torch.allclose(gains, gains[:, :1].expand_as(gains), rtol=1e-4)  # one factor per band: no mixing
        per_band = gains[:, 0]
        global_gain = per_band.mean()
        assert (per_band / global_gain - 1).abs().max() <= 2 * SPECTRAL_BAND_GAIN + 1e-4
        global_gains.append(float(global_gain))
    assert 0.55 < min(global_gains) < 0.9 and 1.1 < max(global_gains) < 1.45  # MC local: brightness 0.8 / 2


@pytest.mark.parametrize(("policy", "mixes"), [("spectral", False), ("paper", True)])
def test_only_the_paper_policy_mixes_bands(pisa_dates, policy, mixes) -> None:
    _, dates = pisa_dates
    reflectance = dates[0][:, :64, :64] * REFLECTANCE
    changed = reflectance.clone()
    changed[7] *= 2.0  # another spectrum in B08 only
    band_mean = reflectance.mean(dim=(1, 2), keepdim=True)
    band_std = reflectance.std(dim=(1, 2), keepdim=True)
    _, (local_view,) = crop_specs("dinomc", 64, [32], policy)
    distortions = Photometric(**{**vars(local_view.photometric), "jitter_p": 1.0, "blur_p": 1.0,
                                 "grayscale_p": 1.0 if policy == "paper" else 0.0})
    others = [band for band in range(13) if band != 7]
    outputs = []
    for image in (reflectance, changed):
        random.seed(1)
        torch.manual_seed(1)
        outputs.append(photometric(image.clone(), distortions, None, band_mean, band_std))
    assert torch.allclose(outputs[0][others], outputs[1][others]) != mixes

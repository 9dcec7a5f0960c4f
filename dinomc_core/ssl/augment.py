"""Multi-crop augmentations of DINO, DINO-MC and DINO-TP, on tensors with any number of spectral bands.

The official code augments 8-bit RGB PIL images. Here every operation works on a ``(C, H, W)`` float tensor of
raw values, which is first scaled to reflectance (``raw * scale``, so 1.0 is full reflectance), augmented, and
standardised last (``(x - mean) / std``). What each operation means for multispectral data:

* **random resized crop**: a random window of ``scale`` times the area and aspect ratio in [3/4, 4/3], resized
  with antialiasing (bicubic for global crops, bilinear for DINO-MC's local crops): a change of extent and of
  apparent ground sampling distance, the same for every band.
* **horizontal flip**: geometry only; valid for any band.
* **brightness** (factor ``b``): every band times ``b``, as a change of illumination (sun elevation, haze) does.
* **contrast** (factor ``c``): every value pulled towards (``c < 1``) or pushed away from (``c > 1``) its own
  band's mean over the crop, so the spectral signature (the band means) is kept and no band is dragged towards
  another band's level.
* **saturation** and **hue**: defined for colour only, so they act on the red, green and blue bands when the band
  names say which they are, and are skipped otherwise. Saturation blends RGB with its luma (ITU-R 601 weights);
  hue rotates the chroma plane of YIQ by an angle, which keeps luma and needs no clipping (torchvision's HSV
  round trip clips to [0, 1]). Other bands are left as they are.
* **grayscale**: every band replaced by the mean over all bands of the *standardised* values, brought back to the
  band's own mean and spread: the spectral signature becomes the average one and the spatial pattern stays, as
  grayscale does for RGB. Averaging raw reflectance instead would put bands of small spread (B10, B01, B09) at
  hundreds of standard deviations from their mean.
* **gaussian blur**: each band blurred with the same sigma, drawn in [0.1, 2.0] pixels (DINO's range).
* **solarisation**: reflectance at or above 0.5 inverted (``x -> 1 - x``), PIL's solarize at 128/255 moved onto
  reflectance; bright targets (clouds, snow) turn dark.

The paper's photometric policy (``paper``) is DINO's colour augmentation. Grayscale, saturation and hue teach
invariance to the spectral signature, which is what separates land covers in 13 bands, so a second policy,
``spectral``, keeps the spectrum: every colour distortion of a view is replaced by

* **global gain**: every band times one factor in ``1 +- g`` with ``g`` half the paper's brightness strength;
* **per-band gain**: each band times its own factor in ``1 +- 0.05`` (calibration and atmosphere differences);
* **noise**: gaussian noise of 0.05 band standard deviations, independent per pixel and band;

with the paper's probabilities, flips and blur kept, and no grayscale, saturation, hue, contrast or solarisation:
no operation mixes bands, so a pixel's spectrum changes only by a global and small per-band gains (and noise).

Nodata values and NaNs are replaced by the band's mean reflectance before anything else, so they reach the model
as 0. Nothing is clipped at 1: reflectance above 1 (specular glint, clouds) keeps its value. Values are floored at 0
only after contrast, saturation and hue, which can push them below the physical minimum.
"""
from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from dinomc_core.errors import DinoMCError
from dinomc_core.filters import gaussian_blur

MODES = ("dino", "dinomc", "dinotp")
DEFAULT_MODE = "dinomc"
PHOTOMETRIC_POLICIES = ("paper", "spectral")
DEFAULT_PHOTOMETRIC = "paper"
SPECTRAL_BAND_GAIN = 0.05
SPECTRAL_NOISE = 0.05
DEFAULT_GLOBAL_SIZE = 224
DEFAULT_LOCAL_SIZES = (184, 164, 144, 124, 104, 84)
DINO_LOCAL_SIZE = 96
DINO_LOCAL_CROPS_NUMBER = 8
DINO_GLOBAL_SCALE = (0.4, 1.0)
DINO_LOCAL_SCALE = (0.05, 0.4)
MC_GLOBAL_SCALE = (0.32, 1.0)
MC_LOCAL_SCALE = (0.05, 0.32)
ASPECT_RATIO = (3.0 / 4.0, 4.0 / 3.0)
BLUR_SIGMA = (0.1, 2.0)
SOLARIZE_THRESHOLD = 0.5
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class Photometric:
    """The flip and colour distortions applied to one view after cropping, with their probabilities."""

    flip_p: float = 0.5
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.2, 0.1)  # brightness, contrast, saturation, hue
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    blur_p: float = 0.0
    solarize_p: float = 0.0
    band_gain: float = 0.0  # per-band gains drawn in 1 +- band_gain, with probability jitter_p
    noise: float = 0.0  # gaussian noise in band standard deviations, with probability jitter_p


DINO_GLOBAL_1 = Photometric(blur_p=1.0)
DINO_GLOBAL_2 = Photometric(blur_p=0.1, solarize_p=0.2)
DINO_LOCAL = Photometric(blur_p=0.5)
MC_LOCAL = Photometric(jitter=(0.8, 0.8, 0.8, 0.2), blur_p=0.5)
SECO_TEMPORAL = Photometric(jitter=(0.4, 0.4, 0.4, 0.1), blur_p=0.5)
UNCHANGED = Photometric(flip_p=0.0, jitter_p=0.0, grayscale_p=0.0)


@dataclass(frozen=True)
class CropSpec:
    """One view: output size, area range, resampling, photometric distortions, and which date it comes from."""

    size: int
    scale: tuple[float, float]
    interpolation: str
    photometric: Photometric
    date: int = 0  # index into the dates drawn for this place (DINO-TP); always 0 for one image


def global_crops_number(mode: str) -> int:
    """Teacher views per image: 3 temporal positives for DINO-TP, 2 otherwise."""
    return 3 if mode == "dinotp" else 2


def local_crop_sizes(mode: str, local_sizes: Sequence[int], local_crops_number: int | None) -> list[int]:
    """The local crop sizes of a mode: ``local_crops_number`` x 96 px for DINO; for DINO-MC and DINO-TP one crop
    per size in ``local_sizes``, keeping the last (smallest) ``local_crops_number`` when fewer are asked for."""
    if mode == "dino":
        number = DINO_LOCAL_CROPS_NUMBER if local_crops_number is None else local_crops_number
        return [DINO_LOCAL_SIZE] * number
    if local_crops_number is None:
        return list(local_sizes)
    if local_crops_number > len(local_sizes):
        raise DinoMCError(
            f"--local-crops-number {local_crops_number} asks for more local crops than the {len(local_sizes)} "
            "--local-sizes given; list one size per local crop"
        )
    return list(local_sizes)[len(local_sizes) - local_crops_number :]


def spectrum_preserving(spec: Photometric) -> Photometric:
    """The view's distortions under the ``spectral`` policy: a global gain of half the paper's brightness strength,
    small per-band gains and noise instead of colour jitter, grayscale and solarisation; flips and blur kept.
    A view without colour distortion stays without."""
    if spec.jitter_p == 0:
        return spec
    return Photometric(
        flip_p=spec.flip_p,
        jitter=(spec.jitter[0] / 2, 0.0, 0.0, 0.0),
        jitter_p=spec.jitter_p,
        grayscale_p=0.0,
        blur_p=spec.blur_p,
        solarize_p=0.0,
        band_gain=SPECTRAL_BAND_GAIN,
        noise=SPECTRAL_NOISE,
    )


def crop_specs(
    mode: str, global_size: int, local_sizes: Sequence[int], photometric_policy: str = DEFAULT_PHOTOMETRIC
) -> tuple[list[CropSpec], list[CropSpec]]:
    """The global and local views of a mode, in the order the loss pairs them (globals first), with the photometric
    distortions of the paper or their spectrum-preserving counterparts (``photometric_policy``)."""
    if photometric_policy not in PHOTOMETRIC_POLICIES:
        raise DinoMCError(
            f"unknown photometric policy '{photometric_policy}'; choose one of {', '.join(PHOTOMETRIC_POLICIES)}"
        )
    globals_, locals_ = paper_crop_specs(mode, global_size, local_sizes)
    if photometric_policy == "spectral":
        globals_ = [dataclasses.replace(spec, photometric=spectrum_preserving(spec.photometric)) for spec in globals_]
        locals_ = [dataclasses.replace(spec, photometric=spectrum_preserving(spec.photometric)) for spec in locals_]
    return globals_, locals_


def paper_crop_specs(mode: str, global_size: int, local_sizes: Sequence[int]) -> tuple[list[CropSpec], list[CropSpec]]:
    """The global and local views of a mode with the papers' photometric distortions."""
    if mode == "dino":
        globals_ = [
            CropSpec(global_size, DINO_GLOBAL_SCALE, "bicubic", DINO_GLOBAL_1),
            CropSpec(global_size, DINO_GLOBAL_SCALE, "bicubic", DINO_GLOBAL_2),
        ]
        locals_ = [CropSpec(size, DINO_LOCAL_SCALE, "bicubic", DINO_LOCAL) for size in local_sizes]
    elif mode == "dinomc":
        globals_ = [
            CropSpec(global_size, MC_GLOBAL_SCALE, "bicubic", DINO_GLOBAL_1),
            CropSpec(global_size, MC_GLOBAL_SCALE, "bicubic", DINO_GLOBAL_2),
        ]
        locals_ = [CropSpec(size, MC_LOCAL_SCALE, "bilinear", MC_LOCAL) for size in local_sizes]
    elif mode == "dinotp":
        # The official DataAugmentationTP: globals from dates t1, t2 and t0, SeCo's colour augmentation on the
        # first and the last; local crops from t0 without colour augmentation.
        globals_ = [
            CropSpec(global_size, MC_GLOBAL_SCALE, "bicubic", SECO_TEMPORAL, date=1),
            CropSpec(global_size, MC_GLOBAL_SCALE, "bicubic", UNCHANGED, date=2),
            CropSpec(global_size, MC_GLOBAL_SCALE, "bicubic", SECO_TEMPORAL, date=0),
        ]
        locals_ = [CropSpec(size, MC_LOCAL_SCALE, "bilinear", UNCHANGED) for size in local_sizes]
    else:
        raise DinoMCError(f"unknown mode '{mode}'; choose one of {', '.join(MODES)}")
    return globals_, locals_


class MultiCropAugmentation:
    """Turns one image (or the dates of one place, for DINO-TP) into the list of standardised views.

    ``scale``, ``mean`` and ``std`` are per band: reflectance = raw * scale, model input = (reflectance - mean) / std.
    ``rgb_indices`` are the positions of the red, green and blue bands, or None when the bands are not known.
    Raw values equal to ``nodata``, and NaNs, take the band's mean reflectance, so they enter the model as 0.
    """

    def __init__(
        self,
        global_crops: Sequence[CropSpec],
        local_crops: Sequence[CropSpec],
        scale: Sequence[float],
        mean: Sequence[float],
        std: Sequence[float],
        rgb_indices: Sequence[int] | None,
        nodata: float | None = None,
    ) -> None:
        self.crops = list(global_crops) + list(local_crops)
        self.scale = torch.tensor(scale, dtype=torch.float32).view(-1, 1, 1)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        self.rgb_indices = list(rgb_indices) if rgb_indices is not None else None
        self.nodata = nodata
        self.dates_needed = 1 + max(spec.date for spec in self.crops)

    def __call__(self, item: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
        images = [item] if isinstance(item, torch.Tensor) else list(item)
        dates = [self.reflectance(images[index]) for index in draw_dates(len(images), self.dates_needed)]
        return [self.view(dates[spec.date], spec) for spec in self.crops]

    def reflectance(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw values scaled to reflectance, with nodata and NaN values replaced by the band's mean."""
        invalid = torch.isnan(raw)
        if self.nodata is not None:
            invalid |= raw == self.nodata
        return torch.where(invalid, self.mean, raw * self.scale)

    def view(self, reflectance: torch.Tensor, spec: CropSpec) -> torch.Tensor:
        """One standardised view of a reflectance image."""
        x = random_resized_crop(reflectance, spec.size, spec.scale, spec.interpolation)
        x = photometric(x, spec.photometric, self.rgb_indices, self.mean, self.std)
        return x.sub_(self.mean).div_(self.std)


def draw_dates(available: int, needed: int) -> list[int]:
    """``needed`` distinct dates in random order when the place has that many; with fewer, they repeat.

    The official DINO-TP draws with replacement, which often gives the same date twice even when others exist.
    """
    order = random.sample(range(available), available)
    return [order[index % available] for index in range(needed)]


def random_resized_crop(x: torch.Tensor, size: int, scale: tuple[float, float], interpolation: str) -> torch.Tensor:
    """torchvision's RandomResizedCrop on a ``(C, H, W)`` tensor, resized with antialiasing."""
    top, left, height, width = crop_window(x.shape[-2], x.shape[-1], scale)
    window = x[None, :, top : top + height, left : left + width]
    return F.interpolate(window, size=(size, size), mode=interpolation, align_corners=False, antialias=True)[0]


def crop_window(height: int, width: int, scale: tuple[float, float]) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop.get_params: 10 tries at a random area and ratio, else a central crop."""
    area = height * width
    log_ratio = (math.log(ASPECT_RATIO[0]), math.log(ASPECT_RATIO[1]))
    for _ in range(10):
        target_area = area * random.uniform(*scale)
        aspect_ratio = math.exp(random.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            return random.randint(0, height - h), random.randint(0, width - w), h, w
    in_ratio = width / height
    if in_ratio < ASPECT_RATIO[0]:
        w, h = width, int(round(width / ASPECT_RATIO[0]))
    elif in_ratio > ASPECT_RATIO[1]:
        w, h = int(round(height * ASPECT_RATIO[1])), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def photometric(
    x: torch.Tensor,
    spec: Photometric,
    rgb_indices: Sequence[int] | None,
    band_mean: torch.Tensor,
    band_std: torch.Tensor,
) -> torch.Tensor:
    """Flip, colour jitter, per-band gains, grayscale, blur, noise and solarisation, each drawn with its
    probability, in DINO's order (per-band gains and noise, absent from DINO, follow jitter and blur).

    ``band_mean`` and ``band_std`` (``(C, 1, 1)``, reflectance) are the data's statistics, used by grayscale and
    noise.
    Works in place: ``x`` must be a tensor the caller owns (a freshly resized crop).
    """
    if random.random() < spec.flip_p:
        x = x.flip(-1)
    if random.random() < spec.jitter_p:
        color_jitter_(x, spec.jitter, rgb_indices)
    if spec.band_gain > 0 and random.random() < spec.jitter_p:
        x.mul_(band_gains(x.shape[0], spec.band_gain))
    if random.random() < spec.grayscale_p:
        x = grayscale(x, band_mean, band_std)
    if random.random() < spec.blur_p:
        x = gaussian_blur(x, random.uniform(*BLUR_SIGMA))
    if spec.noise > 0 and random.random() < spec.jitter_p:
        x = x + torch.randn_like(x) * (spec.noise * band_std)
    if random.random() < spec.solarize_p:
        x = torch.where(x >= SOLARIZE_THRESHOLD, 1.0 - x, x)
    return x


def band_gains(bands: int, strength: float) -> torch.Tensor:
    """``(bands, 1, 1)`` independent factors drawn uniformly in ``1 +- strength``."""
    return torch.tensor([random.uniform(1 - strength, 1 + strength) for _ in range(bands)]).view(-1, 1, 1)


def grayscale(x: torch.Tensor, band_mean: torch.Tensor, band_std: torch.Tensor) -> torch.Tensor:
    """Every band set to the mean standardised value over all bands, in its own units (mean + std * z)."""
    z = ((x - band_mean) / band_std).mean(dim=0, keepdim=True)
    return band_mean + band_std * z


def color_jitter_(
    x: torch.Tensor, strengths: tuple[float, float, float, float], rgb_indices: Sequence[int] | None
) -> None:
    """torchvision's ColorJitter for any number of bands, in place: the four adjustments in random order."""
    brightness, contrast, saturation, hue = strengths
    for operation in random.sample(range(4), 4):
        if operation == 0 and brightness > 0:
            x.mul_(random.uniform(max(0.0, 1 - brightness), 1 + brightness))
        elif operation == 1 and contrast > 0:
            adjust_contrast_(x, random.uniform(max(0.0, 1 - contrast), 1 + contrast))
        elif operation == 2 and saturation > 0 and rgb_indices is not None:
            mix_rgb_(x, saturation_matrix(random.uniform(max(0.0, 1 - saturation), 1 + saturation)), rgb_indices)
        elif operation == 3 and hue > 0 and rgb_indices is not None:
            mix_rgb_(x, hue_rotation(random.uniform(-hue, hue)), rgb_indices)


def adjust_contrast_(x: torch.Tensor, factor: float) -> None:
    """Scale the distance of every value from its band's mean over the crop by ``factor``."""
    mean = x.mean(dim=(-2, -1), keepdim=True)
    x.sub_(mean).mul_(factor).add_(mean).clamp_min_(0.0)


def mix_rgb_(x: torch.Tensor, matrix: torch.Tensor, rgb_indices: Sequence[int]) -> None:
    """Replace the RGB bands by ``matrix @ rgb`` at every pixel, floored at 0; other bands are untouched."""
    indices = list(rgb_indices)
    x[indices] = torch.einsum("ij,jhw->ihw", matrix.to(x.dtype), x[indices]).clamp_min_(0.0)


def saturation_matrix(factor: float) -> torch.Tensor:
    """The 3x3 RGB matrix that blends colour with its luma: 0 gives gray, 1 the input, above 1 more vivid colours."""
    luma = torch.tensor(LUMA_WEIGHTS).expand(3, 3)
    return factor * torch.eye(3) + (1 - factor) * luma


def hue_rotation(factor: float) -> torch.Tensor:
    """The 3x3 RGB matrix that rotates the chroma (I, Q) of YIQ by ``factor`` turns and keeps luma (Y)."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    angle = 2 * math.pi * factor
    rotation = torch.tensor(
        [[1.0, 0.0, 0.0], [0.0, math.cos(angle), -math.sin(angle)], [0.0, math.sin(angle), math.cos(angle)]]
    )
    return torch.linalg.inv(to_yiq) @ rotation @ to_yiq


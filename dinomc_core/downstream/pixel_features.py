"""Fused per-pixel features: the pixel's own spectrum beside DINO-MC context brought to pixel resolution.

Land cover and change are decided at a pixel by its spectrum (water, vegetation and bare soil differ in a few
bands) and by its surroundings (a field, a street, a harbour), which the encoder sees. Maps made from encoder
features alone are blurred to the patch scale; bands alone miss the context. Every pixel gets up to four groups:

- ``bands``: the model's standardised bands (Sentinel-2's atmospheric bands held at their mean, see
  ``ATMOSPHERIC_BANDS``);
- ``indices``: normalised differences analysts use (NDVI, NDWI, MNDWI, NDBI), when the bands are there;
- ``texture``: each band's absolute differences to its neighbours, averaged over a gaussian of ``TEXTURE_SIGMA``
  px and taken from the least textured of nine windows around the pixel (so that it does not spill across an
  edge): how rough the surroundings are (crop rows, roofs and streets), a classic measure beside the encoder's;
- ``context``: encoder feature maps at several depths (CNN stages, ViT blocks), each projected onto its first
  principal components at its own resolution, then upsampled bilinearly to pixels (projection and bilinear
  upsampling are both linear, so projecting first is cheap and gives the same values).

A ``FeatureScaler`` standardises every feature on training pixels and weights each group by one over the square
root of its width, so that each group counts the same in a distance (k-NN, change magnitude) whatever its width.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dinomc_core.data.bands import canonical_band_name
from dinomc_core.data.normalization import Normalization
from dinomc_core.downstream.projection import principal_components, project_maps
from dinomc_core.errors import DinoMCError
from dinomc_core.filters import bilinear_resize, gaussian_blur, least_textured_window, neighbour_differences

GROUPS = ("bands", "indices", "texture", "context")
CHANGE_GROUPS = ("bands", "texture", "context")
"""Deep change vector analysis leaves the indices out: on the OSCD cities they lowered the AUC of band-only change
vectors from 84.5 to 81.3 % (ratios of noisy bands are noisy where reflectance is low). The texture adds to them (new
buildings, cleared fields): fused pooled F1 / mean AUC 21.1 / 87.4 % without it, 22.1 / 88.0 % with it."""
BAND_ROLES: dict[str, tuple[str, ...]] = {
    "green": ("B03", "green"),
    "red": ("B04", "red"),
    "nir": ("B08", "B8A", "nir"),
    "swir": ("B11", "swir", "swir1"),
}
"""Band names (canonical spelling) that play each role in the spectral indices, preferred first."""
SPECTRAL_INDICES: dict[str, tuple[str, str]] = {
    "ndvi": ("nir", "red"),
    "ndwi": ("green", "nir"),
    "mndwi": ("green", "swir"),
    "ndbi": ("swir", "nir"),
}
"""Normalised differences ``(a - b) / (a + b)`` of reflectance: vegetation, open water (two forms), built-up."""
ATMOSPHERIC_BANDS = ("B01", "B09", "B10")
"""Sentinel-2's aerosol, water-vapour and cirrus bands: they describe the air above a pixel, which changes from one
date and one place to the next (the OSCD scenes' B10 is 4 times EuroSAT's), so a map or a change that used them would
follow the weather. Pixel features hold them at their mean, for the encoder too."""
TEXTURE_SIGMA = 4.0
"""Gaussian (px) over which each band's neighbour differences are averaged into a pixel's texture: rows of crops,
roofs and streets are a few pixels apart at 10 m. On the few-shot land-cover mosaic (docs/results.md) sigma 1, 2 and
4 lifted a random forest on the bands from 30.3 to 37.7, 40.0 and 41.3 % (side study of 2026-12-01)."""
TEXTURE_WINDOW_OFFSET = 4
"""Offset (px) of the nine windows a pixel's texture is taken from, the least textured of them
(``least_textured_window``): a texture averaged across an edge is high on both sides of it, which widened rivers and
blurred field edges. In the pixel-maps benchmark (docs/results.md, mean of 3 draws) 4 px lifted bands with texture
from 39.6 to 43.3 % of few-shot land cover and water IoU from 91.5 to 91.9 %; 8 px cost the fused water map 7 points
of IoU in one draw (runs of 2026-12-01)."""
CONTEXT_COMPONENTS = 8
"""Principal components kept per encoder level: enough for land-cover context, small enough for pixel maps."""
PROJECTION_ROWS = 20000
"""Feature-map cells per level that the principal components are computed from."""


def parse_groups(text: str, option: str = "the feature groups") -> tuple[str, ...]:
    """Feature groups from ``"bands,indices,texture,context"``; an unknown or empty list is an error."""
    groups = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in groups if name not in GROUPS]
    if unknown or not groups:
        raise DinoMCError(f"{option} takes a comma-separated list from {', '.join(GROUPS)}, not {text!r}")
    return groups


def band_roles(band_names: Sequence[str]) -> dict[str, int]:
    """Positions of the green, red, near-infrared and short-wave infrared bands that ``band_names`` contain."""
    positions = {canonical_band_name(name).lower(): index for index, name in enumerate(band_names)}
    roles = {}
    for role, candidates in BAND_ROLES.items():
        found = [positions[name.lower()] for name in candidates if name.lower() in positions]
        if found:
            roles[role] = found[0]
    return roles


def available_indices(band_names: Sequence[str]) -> tuple[str, ...]:
    """The spectral indices whose two bands are among ``band_names``."""
    roles = band_roles(band_names)
    return tuple(name for name, pair in SPECTRAL_INDICES.items() if all(role in roles for role in pair))


def default_context_levels(encoder: nn.Module) -> tuple[int, ...]:
    """Encoder levels used as context: the last three CNN stages (strides 8 to 32), the last two ViT depths."""
    count = len(encoder.pyramid_channels)
    keep = 2 if encoder.is_vit else 3
    return tuple(range(max(0, count - keep), count))


@dataclass(frozen=True)
class FeatureLayout:
    """Which groups a fused feature holds and how wide each is; stored in model files to rebuild the features."""

    groups: tuple[str, ...]
    band_count: int
    indices: tuple[str, ...] = ()
    levels: tuple[int, ...] = ()
    level_channels: tuple[int, ...] = ()
    components: int = CONTEXT_COMPONENTS
    atmospheric: tuple[int, ...] = ()
    """Positions of bands that measure the atmosphere, not the ground: held at their mean (0) everywhere."""
    texture_window: int = 0
    """Offset (px) of the windows that the texture is taken from (``least_textured_window``); 0, as in model files
    saved before the windows existed, takes it from the pixel's own."""

    def __post_init__(self) -> None:
        unknown = [group for group in self.groups if group not in GROUPS]
        if unknown or not self.groups:
            raise DinoMCError(f"unknown feature group(s) {', '.join(unknown) or '(none)'}; use {', '.join(GROUPS)}")

    def group_sizes(self) -> dict[str, int]:
        """Width of each group, in order."""
        sizes = {"bands": self.band_count, "indices": len(self.indices), "texture": self.band_count,
                 "context": self.components * len(self.levels)}
        return {group: sizes[group] for group in self.groups if sizes[group] > 0}

    @property
    def dim(self) -> int:
        return sum(self.group_sizes().values())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureLayout":
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})


def fused_layout(
    encoder: nn.Module | None, band_names: Sequence[str], groups: Sequence[str] = GROUPS,
    components: int = CONTEXT_COMPONENTS,
) -> FeatureLayout:
    """The layout of ``groups`` for an encoder and its bands (indices only where the bands allow them)."""
    use_context = "context" in groups and encoder is not None
    levels = default_context_levels(encoder) if use_context else ()
    channels = tuple(encoder.pyramid_channels[level] for level in levels) if use_context else ()
    indices = available_indices(band_names) if "indices" in groups else ()
    chosen = tuple(group for group in groups if group != "indices" or indices)
    atmospheric = tuple(index for index, name in enumerate(band_names) if canonical_band_name(name) in ATMOSPHERIC_BANDS)
    window = TEXTURE_WINDOW_OFFSET if "texture" in chosen else 0
    return FeatureLayout(chosen, len(band_names), indices, levels, channels, components, atmospheric, window)


class FeatureScaler(nn.Module):
    """``(features - mean) * scale``: per-feature standardisation times a per-group weight of 1/sqrt(width)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))

    def fit(self, features: torch.Tensor, group_sizes: Sequence[int],
            group_weights: Sequence[float] | None = None) -> None:
        """Statistics of training features ``(M, D)``; near-constant features get a floor instead of a blow-up.
        ``group_weights`` multiply the groups' 1/sqrt(width) (0 drops a group)."""
        features = features.double()
        std = features.std(dim=0).nan_to_num(1.0)
        std = std.clamp_min(1e-3 * float(std.mean()) + 1e-8)
        group_weights = group_weights or [1.0] * len(group_sizes)
        weights = torch.cat([torch.full((size,), weight * size ** -0.5, dtype=torch.float64)
                             for size, weight in zip(group_sizes, group_weights)])
        self.mean.copy_(features.mean(dim=0).float())
        self.scale.copy_((weights / std).float())

    def forward(self, features: torch.Tensor, dim: int = -1) -> torch.Tensor:
        """Scale along ``dim`` (the feature axis: -1 for ``(M, D)``, 1 for maps ``(N, D, H, W)``)."""
        shape = [1] * features.ndim
        shape[dim] = -1
        return (features - self.mean.view(shape)) * self.scale.view(shape)


class FeatureFusion(nn.Module):
    """Computes a ``FeatureLayout`` at pixel resolution from normalised tiles and the encoder's feature maps."""

    def __init__(self, layout: FeatureLayout, normalization: Normalization, band_names: Sequence[str]) -> None:
        super().__init__()
        self.layout = layout
        self.register_buffer("reflectance_std", torch.tensor(normalization.std, dtype=torch.float32).view(-1, 1, 1))
        self.register_buffer("reflectance_mean", torch.tensor(normalization.mean, dtype=torch.float32).view(-1, 1, 1))
        roles = band_roles(band_names)
        self.index_bands = [(roles[first], roles[second]) for first, second in
                            (SPECTRAL_INDICES[name] for name in layout.indices)]
        for position, channels in enumerate(layout.level_channels):
            self.register_buffer(f"level{position}_mean", torch.zeros(channels))
            self.register_buffer(f"level{position}_components", torch.zeros(layout.components, channels))
        keep = torch.ones(layout.band_count)
        keep[list(layout.atmospheric)] = 0.0
        self.register_buffer("band_mask", keep.view(-1, 1, 1), persistent=False)  # derived from the layout
        self.register_buffer("surface_bands", keep.nonzero().flatten(), persistent=False)
        self.scaler = FeatureScaler(layout.dim)

    @property
    def uses_encoder(self) -> bool:
        return bool(self.layout.levels)

    def encoder_levels(self, encoder: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
        """The raw encoder maps of the layout's levels; the input is reflected up to a whole number of ViT patches."""
        if not self.uses_encoder:
            return []
        x = x * self.band_mask
        multiple = encoder.patch_size if encoder.is_vit else 1
        pad_bottom, pad_right = -x.shape[-2] % multiple, -x.shape[-1] % multiple
        if pad_bottom or pad_right:
            x = F.pad(x, (0, pad_right, 0, pad_bottom), mode="reflect")
        pyramid = encoder.forward_pyramid(x)
        return [pyramid[level].float() for level in self.layout.levels]

    def fit_projection(self, level_batches: Iterable[Sequence[torch.Tensor]], seed: int = 0) -> None:
        """Principal components of each context level, from batches of raw encoder maps (``encoder_levels``):
        at most ``PROJECTION_ROWS`` feature-map cells per level, drawn at random."""
        cells: list[list[torch.Tensor]] = [[] for _ in self.layout.levels]
        for levels in level_batches:
            for position, level in enumerate(levels):
                cells[position].append(level.float().permute(0, 2, 3, 1).reshape(-1, level.shape[1]).cpu())
        generator = torch.Generator().manual_seed(seed)
        for position, parts in enumerate(cells):
            rows = torch.cat(parts)
            rows = rows[torch.randperm(len(rows), generator=generator)[:PROJECTION_ROWS]]
            projection = principal_components(rows, self.layout.components)
            getattr(self, f"level{position}_mean").copy_(projection.mean)
            getattr(self, f"level{position}_components").copy_(projection.components)

    def raw(self, x: torch.Tensor, levels: Sequence[torch.Tensor], dtype: torch.dtype = torch.float32,
            channels_last: bool = False) -> torch.Tensor:
        """Unscaled fused features ``(N, D, H, W)`` of normalised tiles ``x`` and their encoder ``levels``, stored as
        ``dtype`` (maps use the autocast type, which halves the traffic of the per-pixel head), pixel by pixel with
        ``channels_last`` (for heads that take rows of pixels)."""
        x = x.float()
        layout = torch.channels_last if channels_last else torch.contiguous_format
        out = torch.empty((x.shape[0], self.layout.dim) + tuple(x.shape[-2:]), dtype=dtype, device=x.device,
                          memory_format=layout)  # a slice per group
        start = 0
        if "bands" in self.layout.groups:
            torch.mul(x, self.band_mask, out=out[:, : x.shape[1]])
            start = x.shape[1]
        for a, b in self.index_bands:
            first = x[:, a] * self.reflectance_std[a] + self.reflectance_mean[a]
            second = x[:, b] * self.reflectance_std[b] + self.reflectance_mean[b]
            out[:, start] = normalised_difference(first, second)
            start += 1
        if "texture" in self.layout.groups:
            # the atmospheric bands are held at their mean, so their texture is 0: only the others are filtered
            surface = self.surface_bands
            out[:, start : start + x.shape[1]] = 0
            if len(surface):
                texture = gaussian_blur(neighbour_differences(x[:, surface]), TEXTURE_SIGMA)
                if self.layout.texture_window:
                    texture = least_textured_window(texture, self.layout.texture_window)
                out[:, start + surface] = texture.to(dtype)
            start += x.shape[1]
        for position, level in enumerate(levels):
            projected = project_maps(level, getattr(self, f"level{position}_mean"),
                                     getattr(self, f"level{position}_components"))
            width = projected.shape[1]
            out[:, start : start + width] = bilinear_resize(projected, x.shape[-2:]) \
                if projected.shape[-2:] != x.shape[-2:] else projected
            start += width
        return out

    def forward(self, x: torch.Tensor, levels: Sequence[torch.Tensor]) -> torch.Tensor:
        """Scaled fused features ``(N, D, H, W)``."""
        return self.scaler(self.raw(x, levels), dim=1)


def normalised_difference(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """``(a - b) / (a + b)`` clipped to [-1, 1]; 0 where both are (near) zero."""
    total = first + second
    safe = torch.where(total.abs() < 1e-6, torch.ones_like(total), total)
    return torch.where(total.abs() < 1e-6, torch.zeros_like(total), (first - second) / safe).clamp(-1.0, 1.0)

"""Gaussian blur on real multispectral tiles, one image or a batch; the texture filters on fields and rivers; the
bilinear resize of encoder maps."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from rasterio.windows import Window

from dinomc_core.data import open_scene
from dinomc_core.filters import bilinear_resize, gaussian_blur, least_textured_window, neighbour_differences

PISA = "oscd/Onera Satellite Change Detection dataset - Images/pisa"


def test_blur_smooths_real_bands_keeps_flat_ones_and_treats_a_batch_image_by_image(shared_data) -> None:
    dates = []
    for folder in ("imgs_1", "imgs_2"):
        with open_scene(shared_data / PISA / folder) as scene:
            dates.append(torch.from_numpy(scene.read(window=Window(200, 200, 64, 64)).astype(np.float32)))
    blurred = gaussian_blur(dates[0], 2.0)
    assert blurred.shape == dates[0].shape and blurred.std() < dates[0].std()
    assert torch.allclose(blurred.mean(dim=(1, 2)), dates[0].mean(dim=(1, 2)), rtol=0.02)  # reflected edges
    flat = torch.full((13, 20, 20), 0.3)
    assert torch.allclose(gaussian_blur(flat, 1.5), flat)
    batch = torch.stack(dates)
    assert torch.allclose(gaussian_blur(batch, 1.0)[1], gaussian_blur(dates[1], 1.0))


def stripes(height: int, width: int) -> torch.Tensor:
    """Two bands of crop rows: every column the opposite of the last."""
    return torch.tensor([1.0, -1.0]).repeat(width // 2).expand(1, 2, height, width).clone()


def test_texture_by_a_field_edge_comes_from_the_field_not_across_the_edge() -> None:
    x = stripes(64, 64)
    x[..., :32] = 0.0  # a flat field on the left half
    texture = gaussian_blur(neighbour_differences(x), 4.0)
    kept = least_textured_window(texture, 4)
    assert (kept <= texture).all()  # the pixel's own window is one of the nine
    near_edge = slice(28, 32)  # 1 to 4 px from the edge, on the field's side
    assert float(texture[..., near_edge].min()) > 0.4 and (kept[..., near_edge] < 0.4 * texture[..., near_edge]).all()
    assert torch.allclose(kept[..., 44:52], texture[..., 44:52], rtol=0.02)  # deep inside the crop rows: as it was
    assert torch.equal(least_textured_window(torch.ones(2, 3, 16, 16), 4), torch.ones(2, 3, 16, 16))


def test_a_river_keeps_the_texture_of_its_middle_up_to_its_banks() -> None:
    x = stripes(64, 64)
    x[..., 27:37, :] = 0.0  # a river 10 px wide, running along the rows, between crop rows
    kept = least_textured_window(gaussian_blur(neighbour_differences(x), 4.0), 4)
    middle = float(kept[0, 0, 32, 32])
    assert torch.allclose(kept[0, 0, 27:37, 32], torch.full((10,), middle), atol=0.1 * middle + 0.02)


@pytest.mark.parametrize("source, target", [((8, 8), (256, 256)), ((32, 25), (256, 200)), ((64, 64), (40, 50))])
def test_bilinear_resize_is_what_interpolate_gives(source, target) -> None:
    torch.manual_seed(0)
    maps = torch.randn(2, 3, *source)
    expected = F.interpolate(maps, size=target, mode="bilinear", align_corners=False)
    assert torch.allclose(bilinear_resize(maps, target), expected, atol=1e-4)

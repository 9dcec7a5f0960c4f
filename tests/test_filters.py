"""Gaussian blur on real multispectral tiles, one image or a batch."""
from __future__ import annotations

import numpy as np
import torch
from rasterio.windows import Window

from dinomc_core.data import open_scene
from dinomc_core.filters import gaussian_blur

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

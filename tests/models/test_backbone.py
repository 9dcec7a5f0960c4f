import pytest
import torch

from dinomc_core.errors import DinoMCError
from dinomc_core.models import create_backbone

MC_SIZES = (224, 184, 164, 144, 124, 104, 84)


@pytest.mark.parametrize("arch", ["vit_tiny_patch16_224", "resnet18", "swin_tiny_patch4_window7_224"])
def test_every_crop_size_gives_one_global_feature(arch):
    backbone = create_backbone(arch, in_chans=13).eval()
    with torch.no_grad():
        for size in MC_SIZES:
            assert backbone(torch.randn(1, 13, size, size)).shape == (1, backbone.feature_dim)


def test_vit_drops_the_remainder_that_does_not_fill_a_patch():
    backbone = create_backbone("vit_tiny_patch16_224", in_chans=4).eval()
    image = torch.randn(1, 4, 164, 164)
    with torch.no_grad():
        cropped = backbone(image[..., :160, :160])
        full = backbone(image)
        altered = image.clone()
        altered[..., 160:, :] = 100.0
        altered_output = backbone(altered)
    torch.testing.assert_close(full, cropped)
    torch.testing.assert_close(altered_output, full)
    assert backbone.forward_dense(image).shape == (1, 192, 10, 10)


@pytest.mark.parametrize("arch,in_chans", [("vit_small_patch8_224", 13), ("vit_small_patch16_224", 3)])
def test_paper_vits_build_for_any_band_count(arch, in_chans):
    backbone = create_backbone(arch, in_chans=in_chans)
    assert backbone.feature_dim == 384
    assert backbone.patch_size == int(arch.split("patch")[1][:-4])
    assert backbone.model.patch_embed.proj.weight.shape[1] == in_chans


def test_dense_and_pyramid_features_follow_the_strides():
    backbone = create_backbone("resnet18", in_chans=2).eval()
    with torch.no_grad():
        dense = backbone.forward_dense(torch.randn(1, 2, 128, 96))
        pyramid = backbone.forward_pyramid(torch.randn(1, 2, 128, 96))
    assert dense.shape == (1, 512, 4, 3)
    assert [level.shape[1] for level in pyramid] == backbone.pyramid_channels
    assert [128 // level.shape[2] for level in pyramid] == backbone.pyramid_strides


def test_pooled_cnn_feature_is_the_mean_of_its_dense_map():
    backbone = create_backbone("resnet18", in_chans=3).eval()
    image = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(backbone(image), backbone.forward_dense(image).mean(dim=(2, 3)))


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(DinoMCError, match="unknown architecture"):
        create_backbone("not_a_model", in_chans=3)


def test_input_smaller_than_a_patch_is_refused():
    backbone = create_backbone("vit_tiny_patch16_224", in_chans=3)
    with pytest.raises(DinoMCError, match="smaller than one 16 px patch"):
        backbone(torch.randn(1, 3, 8, 8))


def test_small_crop_vit_variant_has_patch_8_and_a_native_64_px_grid():
    backbone = create_backbone("vit_tiny_patch8_64", in_chans=13).eval()
    assert (backbone.arch, backbone.patch_size, backbone.feature_dim) == ("vit_tiny_patch8_64", 8, 192)
    assert backbone.model.pos_embed.shape[1] == 1 + 8 * 8
    with torch.no_grad():
        assert backbone.forward_dense(torch.randn(2, 13, 64, 64)).shape == (2, 192, 8, 8)
        assert backbone(torch.randn(1, 13, 40, 40)).shape == (1, 192)  # local crops of any size

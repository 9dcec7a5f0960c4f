import torch

from dinomc_core.models import DINOHead, MultiCropWrapper, create_backbone


def count(parameters):
    return sum(p.numel() for p in parameters)


def test_head_parameter_counts_match_dino():
    for in_dim, total, trainable in [(384, 22_352_128, 22_286_592), (2048, 25_760_000, 25_694_464)]:
        head = DINOHead(in_dim)
        assert count(head.parameters()) == total
        assert count(p for p in head.parameters() if p.requires_grad) == trainable


def test_last_layer_rows_have_unit_norm_so_logits_are_cosines():
    head = DINOHead(32, out_dim=64, hidden_dim=48, bottleneck_dim=16)
    weight = head.last_layer.weight
    torch.testing.assert_close(weight.norm(dim=1), torch.ones(64))
    logits = head(torch.randn(5, 32))
    assert logits.abs().max() <= 1.0 + 1e-5


def test_norm_last_layer_false_makes_the_magnitude_trainable():
    head = DINOHead(32, out_dim=64, hidden_dim=48, bottleneck_dim=16, norm_last_layer=False)
    assert head.last_layer.parametrizations.weight.original0.requires_grad


def test_multicrop_batches_equal_sizes_and_keeps_crop_major_order():
    backbone = create_backbone("vit_tiny_patch16_224", in_chans=3).eval()
    calls = []
    backbone.register_forward_hook(lambda module, inputs, output: calls.append(tuple(inputs[0].shape)))
    wrapper = MultiCropWrapper(backbone, DINOHead(192, out_dim=32, hidden_dim=64, bottleneck_dim=16)).eval()
    crops = [torch.randn(2, 3, 224, 224) for _ in range(2)] + [torch.randn(2, 3, s, s) for s in (184, 164, 144, 124, 104, 84)]
    with torch.no_grad():
        output = wrapper(crops)
        single = wrapper.head(backbone(crops[3]))
    assert output.shape == (16, 32)
    assert calls[0] == (4, 3, 224, 224) and len(calls) == 8  # 7 grouped passes + the single check
    torch.testing.assert_close(output.chunk(8)[3], single)

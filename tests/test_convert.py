import argparse

import pytest
import torch

import dinomc_core
from dinomc_core.convert import main
from dinomc_core.models import DINOHead, create_backbone


def official_checkpoint(path, arch, ddp_prefix):
    """A checkpoint laid out as main_dino.py / main_dino_mc.py save it: teacher/student, prefixes, DINO head."""
    backbone = create_backbone(arch, in_chans=3).model
    head = DINOHead(backbone.num_features, out_dim=64, hidden_dim=32, bottleneck_dim=16)
    prefix = "module." if ddp_prefix else ""
    teacher = {f"{prefix}backbone.{k}": v for k, v in backbone.state_dict().items()}
    for k, v in head.state_dict().items():
        k = k.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1", "weight_v")
        teacher[f"{prefix}head.{k}"] = v
    torch.save({"teacher": teacher, "student": teacher, "epoch": 3, "args": argparse.Namespace(arch=arch)}, path)
    return backbone.eval()


@pytest.mark.parametrize("arch,ddp_prefix", [("vit_small_patch16_224", False), ("resnet50", True)])
def test_official_checkpoint_converts_to_equal_outputs_at_224(tmp_path, arch, ddp_prefix):
    checkpoint = tmp_path / "checkpoint.pth"
    reference = official_checkpoint(checkpoint, arch, ddp_prefix)
    output = tmp_path / "imported.dinomc"
    assert main([str(checkpoint), "--output", str(output)]) == 0
    model = dinomc_core.load_model(output)
    image = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(image), reference(image))
    assert model.metadata.arch == arch and model.metadata.bands == ["red", "green", "blue"]
    assert model.metadata.normalization["mean"] == [0.485, 0.456, 0.406]


def test_missing_checkpoint_exits_with_one_sentence(tmp_path, capsys):
    from dinomc_core.errors import run_cli

    assert run_cli(main, [str(tmp_path / "nope.pth"), "-o", str(tmp_path / "x.dinomc")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the checkpoint") and "Traceback" not in err
    assert not (tmp_path / "x.dinomc").exists()

"""Settings: the paper's defaults, checks with actionable sentences, and the YAML file."""
from __future__ import annotations

import pytest

from dinomc_core.errors import DinoMCError
from dinomc_core.ssl.config import PretrainConfig, read_config_file


def test_settings_that_cannot_work_are_refused_with_the_flag_to_fix() -> None:
    PretrainConfig(data=["x"], out="y").check()
    assert PretrainConfig(data=["x"], out="y").photometric == "paper"  # the paper's augmentation by default
    cases = [
        (dict(data=[]), "pass raster files or folders with --data"),
        (dict(out=""), "pass one with --out"),
        (dict(batch_size=0), "--batch-size must be at least 1"),
        (dict(local_sizes=[96, 0]), "--local-sizes must be positive"),
        (dict(precision="fp8"), "unknown precision 'fp8'"),
        (dict(photometric="rgb"), "unknown photometric policy 'rgb'; choose one of paper, spectral"),
        (dict(centering="batch"), "unknown centring 'batch'; choose one of ema, sinkhorn"),
        (dict(std=[0.1, 0.1, 0.1]), "give both --mean and --std"),
    ]
    for change, message in cases:
        settings = {"data": ["x"], "out": "y", **change}
        with pytest.raises(DinoMCError, match=message):
            PretrainConfig(**settings).check()


def test_the_yaml_file_takes_dashes_or_underscores_and_refuses_the_rest(tmp_path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("batch-size: 16\nout_dim: 4096\n")
    assert read_config_file(good) == {"batch_size": 16, "out_dim": 4096}
    for text, message in (("- a\n- b\n", "must hold a mapping"), ("epochs: [1\n", "not valid YAML"),
                          ("epoch: 3\n", "unknown setting\\(s\\) epoch")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(DinoMCError, match=message):
            read_config_file(bad)
    with pytest.raises(DinoMCError, match="cannot read the configuration file"):
        read_config_file(tmp_path / "missing.yaml")

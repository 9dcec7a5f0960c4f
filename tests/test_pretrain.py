"""The pretraining CLI: configuration file and flags, errors as one sentence, and a 2-process torchrun run."""
from __future__ import annotations

import csv
import math
import os
import subprocess
import sys

import pytest
import torch

from dinomc_core.errors import run_cli
from dinomc_core.models import read_model_file
from dinomc_core.pretrain import main, make_config
from tests.data.builders import SCENE_IDS, envi_band_name, write_envi_pair, write_small_scene

FOREST = "eurosat_ms/ds/images/remote_sensing/otherDatasets/sentinel_2/tif/Forest"
TINY = ["--arch", "vit_tiny_patch16_224", "--global-size", "32", "--local-sizes", "24", "16", "--out-dim", "64",
        "--epochs", "1", "--batch-size", "4", "--num-workers", "0"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Intra-op threads spin badly on a busy shared machine; one thread keeps test times steady."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cli_error(argv: list[str], capsys) -> str:
    """Run the CLI as users do; expect exit code 2 and return its one-line message."""
    assert run_cli(main, argv) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("error: ") and "\n" not in message and "Traceback" not in message
    return message


def test_flags_override_the_configuration_file(tmp_path) -> None:
    config_file = tmp_path / "run.yaml"
    config_file.write_text("arch: resnet18\nepochs: 5\nlocal-sizes: [96, 64]\nlr: 1.0e-3\nbands: B04,B03,B02\n")
    config = make_config(["--config", str(config_file), "--data", "x", "--out", "y", "--epochs", "7"])
    assert (config.arch, config.epochs, config.local_sizes, config.lr) == ("resnet18", 7, [96, 64], 1e-3)
    assert config.bands == ["B04", "B03", "B02"] and config.mode == "dinomc" and config.batch_size == 8
    assert make_config(["--data", "x", "--out", "y", "--bands", "B08,B04", "B03"]).bands == ["B08", "B04", "B03"]
    assert make_config(["--data", "a b, c", "d", "--out", "y"]).data == ["a b, c", "d"]


def test_the_defaults_are_dino_mcs() -> None:
    config = make_config(["--data", "x", "--out", "y"])
    assert (config.global_size, config.local_sizes, config.out_dim) == (224, [184, 164, 144, 124, 104, 84], 65536)
    assert (config.lr, config.min_lr, config.weight_decay, config.weight_decay_end) == (5e-4, 1e-6, 0.04, 0.4)
    assert (config.momentum_teacher, config.teacher_temp, config.clip_grad, config.freeze_last_layer) == (
        0.996, 0.04, 3.0, 1)
    assert (config.batch_size, config.warmup_epochs, config.drop_path_rate, config.mode) == (8, 10, 0.1, "dinomc")


def test_a_short_run_from_the_command_line(shared_data, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert run_cli(main, [*TINY, "--data", str(shared_data / FOREST), "--out", str(out)]) == 0
    assert "encoder written to" in capsys.readouterr().out
    assert {"checkpoint.pt", "encoder.dinomc", "log.csv", "loss.png"} <= {path.name for path in out.iterdir()}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--data", "{missing}"], "does not exist"),
        (["--data", "{empty}"], "holds no rasters"),
        (["--data", "{broken}"], "broken.tif"),
        (["--data", "{forest}", "--bands", "B99"], "B99"),
        (["--data", "{forest}", "--global-size", "224"], "smallest images are 64 px but the crops reach 224 px"),
        (["--data", "{forest}", "--resume"], "no checkpoint.pt in"),
        (["--data", "{forest}", "--precision", "fp16", "--device", "cpu"], "fp16 needs a CUDA GPU"),
        (["--data", "{forest}", "--config", "{bad_config}"], "unknown setting(s) learning_rate"),
        (["--data", "{forest}", "--mean", "0.1"], "give both --mean and --std"),
        (["--out", "{out}"], "no data was given"),
        (["--data", "{forest}", "--out", "{broken}/run"], "cannot create the output folder"),
    ],
)
def test_bad_input_is_one_sentence_and_a_non_zero_exit(shared_data, tmp_path, capsys, arguments, expected) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.tif").write_bytes(b"not a GeoTIFF at all")
    (tmp_path / "bad.yaml").write_text("learning_rate: 0.1\n")
    paths = {
        "missing": tmp_path / "missing", "empty": tmp_path / "empty", "broken": tmp_path / "broken.tif",
        "forest": shared_data / FOREST, "bad_config": tmp_path / "bad.yaml", "out": tmp_path / "out",
    }
    argv = [argument.format(**paths) for argument in arguments]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    assert expected in cli_error([*TINY, *argv], capsys)  # the flags under test come last, so they win


def test_two_processes_with_torchrun_train_data_parallel(shared_data, tmp_path) -> None:
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
        "-m", "dinomc_core.pretrain", "--data", str(shared_data / FOREST), "--out", str(out),
        *TINY, "--epochs", "2", "--batch-size", "2", "--num-workers", "1",
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(command, capture_output=True, text=True, timeout=240, env=environment)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.count("encoder written to") == 1  # rank 0 alone reports and writes
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 2 and len(checkpoint["rng"]) == 2
    with open(out / "log.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["step"]) for row in rows] == [0, 1, 2, 3]  # 8 chips / (2 per process x 2 processes) = 2 steps
    assert all(math.isfinite(float(row["loss"])) for row in rows)
    assert float(rows[0]["lr"]) == 0.0 and float(rows[-1]["lr"]) > 0


def test_the_example_configuration_is_valid(repo_root) -> None:
    config = make_config(["--config", str(repo_root / "configs" / "dinomc_vits8.yaml"), "--data", "x", "--out", "y"])
    config.check()
    assert (config.arch, config.mode, config.bands, config.epochs) == ("vit_small_patch8_224", "dinomc", ["B04", "B03", "B02"], 300)


SMALL_MODEL = ["--arch", "vit_tiny_patch16_224", "--global-size", "32", "--local-sizes", "24", "16", "--out-dim", "64",
               "--epochs", "1", "--num-workers", "0"]
"""A tiny network and crops, and no data flags: no --bands, --batch-size or --window-size."""


def test_two_envi_dates_named_by_scene_pretrain_without_band_flags(shared_data, tmp_path, capsys) -> None:
    first, second = write_envi_pair(tmp_path / "envi", shared_data / "landsat_rgb" / "RGB.byte.tif")
    out = tmp_path / "run"
    assert run_cli(main, [*SMALL_MODEL, "--data", str(first), str(second), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "bands of 1 of 2 inputs matched by wavelength (0.482, 0.565, 0.66 µm)" in printed
    metadata, _ = read_model_file(out / "encoder.dinomc")
    assert metadata.bands[0] == f"{envi_band_name(1, SCENE_IDS[0])} (0.482500 Micrometers)"
    by_position = tmp_path / "by_position"
    assert run_cli(main, [*SMALL_MODEL, "--data", str(first), str(second), "--out", str(by_position),
                          "--bands", "1", "2", "3"]) == 0
    assert "bands 1, 2, 3 taken by position in every input" in capsys.readouterr().out


def test_a_single_400_px_scene_pretrains_without_flags(shared_data, tmp_path, capsys) -> None:
    scene = write_small_scene(tmp_path / "scene.tif", shared_data / "landsat_rgb" / "RGB.byte.tif", size=400)
    assert run_cli(main, [*SMALL_MODEL, "--data", str(scene), "--out", str(tmp_path / "run")]) == 0
    assert "8 windows of 256 px per epoch" in capsys.readouterr().out
    with open(tmp_path / "run" / "log.csv", newline="") as file:
        assert [int(row["step"]) for row in csv.DictReader(file)] == [0]  # 8 windows, one batch of 8

"""Honest results on the real samples in ../shared/data, within a CPU budget of about 15 minutes on 2 cores.

1. Pretrain a ResNet-18 with DINO-MC on the OSCD scenes (labels unused) for 5 short epochs, with the short-run
   recipe of configs/cpu_quick.yaml (12 bands: all but B10).
2. EuroSAT sample (splits.csv: 6 train / 2 validation images per class): k-NN, linear-probe and fine-tuned accuracy
   of that encoder and of the same architecture randomly initialised; k-NN and linear probe on per-band means.
3. OSCD: a change model (pretrained encoder frozen) trained on 8 cities and selected and scored on the 2 others,
   against change vector analysis thresholded with Otsu, on the same cities.

Every number is computed over the whole validation set. The markdown table, the budget actually spent and the
exact commands are written to ``--doc`` (docs/results.md).

    python benchmarks/results_real.py --data ../shared/data --work runs/results_real --doc docs/results.md
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from dinomc_core.data.eurosat import load_eurosat
from dinomc_core.data.normalization import Normalization
from dinomc_core.data.oscd import list_cities, read_city
from dinomc_core.downstream.baselines import band_mean_features, change_vector_magnitude, otsu_threshold
from dinomc_core.downstream.evaluation import change_metrics
from dinomc_core.downstream.features import ChipTensors, match_bands
from dinomc_core.downstream.knn import build_knn_head
from dinomc_core.downstream.linear import train_linear_probe
from dinomc_core.downstream.pixel_features import FeatureScaler
from dinomc_core.errors import DinoMCError, run_cli
from dinomc_core.models import create_backbone, encoder_tensors, read_model_file, save_model_file

OSCD_IMAGES = "oscd/Onera Satellite Change Detection dataset - Images"
# the short-run pretraining recipe; written relative to the repository root when run from there
CPU_QUICK = Path("configs/cpu_quick.yaml")
if not CPU_QUICK.exists():
    CPU_QUICK = Path(__file__).resolve().parents[1] / "configs" / "cpu_quick.yaml"
ARCH = "resnet18"
PAPER = {"eurosat_finetune": 98.78, "eurosat_linear": 95.70, "eurosat_knn": 95.65, "bigearthnet_10": 84.20,
         "oscd_f1": 52.70, "oscd_precision": 49.99, "oscd_recall": 56.81}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("runs/results_real"), help="folder for the runs' outputs")
    parser.add_argument("--doc", type=Path, help="markdown file to write the results into (e.g. docs/results.md)")
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--window-size", type=int, default=128, help="pretraining windows read from the OSCD scenes")
    parser.add_argument("--finetune-epochs", type=int, default=15, help="EuroSAT full fine-tuning epochs")
    parser.add_argument("--change-epochs", type=int, default=6)
    parser.add_argument("--patches-per-epoch", type=int, default=384)
    return parser


class Recorder:
    """Runs commands, keeping each one's text and wall time for the report."""

    def __init__(self) -> None:
        self.steps: list[dict] = []

    def command(self, name: str, argv: list[str]) -> None:
        start = time.monotonic()
        if subprocess.run([sys.executable, *argv]).returncode != 0:
            raise DinoMCError(f"the step '{name}' failed (its message is above); fix it and run the benchmark again")
        self.steps.append({"name": name, "command": "python " + shlex.join(argv), "seconds": time.monotonic() - start})

    def timed(self, name: str, seconds: float) -> None:
        self.steps.append({"name": name, "command": None, "seconds": seconds})


def pretrain(recorder: Recorder, args: argparse.Namespace) -> Path:
    """DINO-MC on the OSCD scenes with the short-run recipe of configs/cpu_quick.yaml (ResNet-18, 64 px crops)."""
    out = args.work / "pretrain"
    recorder.command("pretrain", [
        "-m", "dinomc_core.pretrain", "--config", str(CPU_QUICK), "--data", str(args.data / OSCD_IMAGES),
        "--arch", ARCH, "--mode", "dinomc", "--out", str(out), "--epochs", str(args.pretrain_epochs),
        "--window-size", str(args.window_size), "--device", "cpu", "--seed", "0",
    ])
    return out / "encoder.dinomc"


def random_twin(encoder: Path, target: Path) -> Path:
    """The same architecture, bands and normalisation with random weights: what pretraining is measured against."""
    metadata, _ = read_model_file(encoder)
    torch.manual_seed(0)
    backbone = create_backbone(metadata.arch, metadata.in_chans)
    metadata.provenance = {"created_by": "benchmarks/results_real.py", "weights": "random initialisation (seed 0)"}
    return save_model_file(target, metadata, encoder_tensors(backbone))


def eurosat_runs(recorder: Recorder, args: argparse.Namespace, encoders: dict[str, Path]) -> dict[str, dict[str, float]]:
    """k-NN, linear-probe and fine-tuned validation accuracy of each encoder on the EuroSAT sample."""
    results: dict[str, dict[str, float]] = {}
    for name, encoder in encoders.items():
        for protocol in ("knn", "linear", "full"):
            out = args.work / f"eurosat_{name}_{protocol}"
            epochs = ["--epochs", str(args.finetune_epochs), "--batch-size", "16"] if protocol == "full" else []
            recorder.command(f"EuroSAT {protocol} ({name})", [
                "-m", "dinomc_core.finetune", "classify", "--encoder", str(encoder), "--data", str(args.data / "eurosat_ms"),
                "--format", "eurosat", "--protocol", protocol, *epochs, "--out", str(out), "--device", "cpu", "--quiet",
            ])
            results.setdefault(name, {})[protocol] = json.loads((out / "metrics.json").read_text())["accuracy"]
    return results


def spectral_baseline(args: argparse.Namespace, encoder: Path) -> dict[str, float]:
    """k-NN and linear probe on the per-band means of the chips (normalised as the encoder's inputs)."""
    metadata, _ = read_model_file(encoder)
    chips = load_eurosat(args.data / "eurosat_ms")
    bands = match_bands(chips.band_names, True, metadata.bands)
    normalization = Normalization.from_dict(metadata.normalization)
    train_x, train_y = band_mean_features(ChipTensors(chips.subset("train"), bands, normalization))
    val_x, val_y = band_mean_features(ChipTensors(chips.subset("val"), bands, normalization))
    scaler = FeatureScaler(train_x.shape[1])
    scaler.fit(train_x, [train_x.shape[1]])
    train_x, val_x = scaler(train_x), scaler(val_x)
    knn = build_knn_head(train_x, train_y, len(chips.classes), multilabel=False)
    linear, _ = train_linear_probe(train_x, train_y, val_x, val_y, len(chips.classes), False)
    with torch.no_grad():
        return {"knn": float((knn(val_x).argmax(1) == val_y).float().mean()),
                "linear": float((linear(val_x).argmax(1) == val_y).float().mean())}


def change_run(recorder: Recorder, args: argparse.Namespace, encoder: Path) -> dict:
    """The change model on 8 training cities, selected and scored on the 2 held out (drawn with seed 0)."""
    out = args.work / "oscd_change"
    recorder.command("OSCD change model", [
        "-m", "dinomc_core.finetune", "change", "--encoder", str(encoder), "--data", str(args.data / "oscd"),
        "--format", "oscd", "--out", str(out), "--epochs", str(args.change_epochs),
        "--patches-per-epoch", str(args.patches_per_epoch), "--batch-size", "16", "--device", "cpu", "--quiet",
    ])
    return json.loads((out / "metrics.json").read_text())


def cva_baseline(args: argparse.Namespace, cities: Sequence[str]) -> dict:
    """Change vector analysis over the 13 bands (each date standardised per band), Otsu threshold per city."""
    chosen = [city for city in list_cities(args.data / "oscd") if city.name in cities]
    pairs = [read_city(city, ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]) for city in chosen]
    masks = []
    for pair in pairs:
        magnitude = change_vector_magnitude(pair.before, pair.after)
        masks.append((magnitude >= otsu_threshold(magnitude)).astype(np.float32))
    return change_metrics(pairs, masks)


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def results_table(eurosat: dict, spectral: dict, change: dict, cva: dict) -> str:
    """The markdown table of our numbers next to the paper's."""
    rows = [
        "| task (validation data) | metric | DINO-MC pretrained here (ResNet-18) | same architecture, random init | baseline without encoder | paper (best backbone) |",
        "|---|---|---|---|---|---|",
        f"| EuroSAT sample, 20 images | k-NN accuracy (%) | {percent(eurosat['pretrained']['knn'])} | {percent(eurosat['random']['knn'])} | {percent(spectral['knn'])} (per-band means) | {PAPER['eurosat_knn']} (WRN-50-2) |",
        f"| EuroSAT sample, 20 images | linear-probe accuracy (%) | {percent(eurosat['pretrained']['linear'])} | {percent(eurosat['random']['linear'])} | {percent(spectral['linear'])} (per-band means) | {PAPER['eurosat_linear']} (WRN-50-2) |",
        f"| EuroSAT sample, 20 images | fine-tuned accuracy (%) | {percent(eurosat['pretrained']['full'])} | {percent(eurosat['random']['full'])} | | {PAPER['eurosat_finetune']} (WRN-50-2) |",
        f"| BigEarthNet-10 % | mAP micro (%) | not measurable (6 patches in the sample) | | | {PAPER['bigearthnet_10']} (ViT-S/8) |",
        f"| OSCD, cities {', '.join(change['cities'])} | F1 of change (%) | {percent(change['f1'])} | not run | {percent(cva['f1'])} (CVA + Otsu) | {PAPER['oscd_f1']} (WRN-50-2) |",
        f"| OSCD, same cities | precision / recall (%) | {percent(change['precision'])} / {percent(change['recall'])} | | {percent(cva['precision'])} / {percent(cva['recall'])} | {PAPER['oscd_precision']} / {PAPER['oscd_recall']} |",
        f"| OSCD, same cities | IoU of change (%) | {percent(change['iou'])} | | {percent(cva['iou'])} | |",
        f"| OSCD, same cities | F1, official batch-mean definition (%) | {percent(change['official_batch_mean']['f1'])} | | {percent(cva['official_batch_mean']['f1'])} | |",
    ]
    return "\n".join(rows)


def budget_lines(recorder: Recorder) -> str:
    """Wall time of each step, and the commands that reproduce it."""
    lines = [f"| {step['name']} | {step['seconds'] / 60:.1f} |" for step in recorder.steps]
    total = sum(step["seconds"] for step in recorder.steps) / 60
    commands = "\n".join(step["command"] for step in recorder.steps if step["command"])
    return "\n".join(["| step | minutes |", "|---|---|", *lines, f"| total | {total:.1f} |", "", "```", commands, "```"])


def fill_between_markers(text: str, name: str, content: str) -> str:
    """``text`` with what lies between ``<!-- name:begin -->`` and ``<!-- name:end -->`` replaced by ``content``."""
    pattern = re.compile(rf"(<!-- {name}:begin -->).*?(<!-- {name}:end -->)", re.DOTALL)
    if not pattern.search(text):
        raise DinoMCError(f"the document has no <!-- {name}:begin --> ... <!-- {name}:end --> markers to fill")
    return pattern.sub(lambda match: f"{match.group(1)}\n{content}\n{match.group(2)}", text)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.work.exists() and any(args.work.iterdir()):
        raise DinoMCError(f"{args.work} already holds an earlier run; remove it or give another --work folder")
    args.work.mkdir(parents=True, exist_ok=True)
    recorder = Recorder()
    pretrained = pretrain(recorder, args)
    random_encoder = random_twin(pretrained, args.work / "random_init.dinomc")
    eurosat = eurosat_runs(recorder, args, {"pretrained": pretrained, "random": random_encoder})
    start = time.monotonic()
    spectral = spectral_baseline(args, pretrained)
    recorder.timed("EuroSAT per-band-mean baseline", time.monotonic() - start)
    change = change_run(recorder, args, pretrained)
    start = time.monotonic()
    cva = cva_baseline(args, change["cities"])
    recorder.timed("OSCD change vector analysis", time.monotonic() - start)
    results = {"eurosat": eurosat, "spectral": spectral, "change": {k: change[k] for k in ("cities", "train_cities", "precision", "recall", "f1", "iou", "official_batch_mean")},
               "cva": {k: cva[k] for k in ("precision", "recall", "f1", "iou", "official_batch_mean")}, "steps": recorder.steps}
    (args.work / "results.json").write_text(json.dumps(results, indent=2))
    table, budget = results_table(eurosat, spectral, change, cva), budget_lines(recorder)
    print(table, budget, sep="\n\n")
    if args.doc:
        text = args.doc.read_text() if args.doc.exists() else "<!-- table:begin --><!-- table:end -->\n\n<!-- budget:begin --><!-- budget:end -->\n"
        args.doc.write_text(fill_between_markers(fill_between_markers(text, "table", table), "budget", budget))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

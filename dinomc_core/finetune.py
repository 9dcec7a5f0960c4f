"""``python -m dinomc_core.finetune``: turn a pretrained encoder into a classifier or change model, and evaluate one.

Subcommands: ``classify`` (``--protocol linear|knn|full`` on chip features, or ``pixel``: a per-pixel head on fused
features, the default for labels drawn over a raster) and ``multilabel`` (``linear|knn|full``), ``change`` (Siamese UNet on city
pairs) and ``evaluate`` (metrics of a model file on labelled data). Works on CPU or GPU, with ``--amp`` and under
``torchrun`` for several GPUs.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dinomc_core.downstream.formats import (
    CHANGE_FORMATS,
    CHIP_FORMATS,
    PIXEL_FORMATS,
    DataOptions,
    load_change_cities,
    load_chips,
    load_pixel_samples,
)
from dinomc_core.downstream.pixel_features import GROUPS, parse_groups
from dinomc_core.downstream.pixel_training import HEAD_CHOICES
from dinomc_core.downstream.runs import (
    METRICS_FILE,
    MODEL_FILE,
    PROTOCOLS,
    TrainOptions,
    cities_to_evaluate,
    evaluate_change,
    evaluate_chips,
    train_change,
    train_chip_classifier,
    train_pixel_classifier,
)
from dinomc_core.downstream.runtime import Runtime, setup_runtime
from dinomc_core.errors import run_cli
from dinomc_core.progress import Progress, SilentProgress, add_progress_argument, progress_from_arguments
from dinomc_core.ssl.distributed import DEVICE_CHOICES, shutdown_distributed


def add_data_arguments(parser: argparse.ArgumentParser, formats: Sequence[str]) -> None:
    """Where the labelled data is and how to read it."""
    parser.add_argument("--data", required=True, help="data set root, chip folder, or raster")
    parser.add_argument("--format", required=True, choices=formats, help="layout of --data")
    parser.add_argument("--labels", help="label raster (--format raster) or vector file (--format vector)")
    parser.add_argument("--class-field", help="field of --labels holding each feature's class (--format vector)")
    parser.add_argument("--classes", help="comma-separated class names (label raster values 1..K, or the allowed vector classes)")
    parser.add_argument("--chip-size", type=int, default=64, help="chip size in px cut from a raster (default 64)")
    parser.add_argument("--nomenclature", type=int, default=19, choices=(19, 43), help="BigEarthNet classes (default 19)")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="hold-out share when the data has no validation split")
    parser.add_argument("--val-cities", default="", help="comma-separated OSCD training cities held out for validation (default: 2 drawn with --seed)")
    parser.add_argument("--seed", type=int, default=0)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Output folder and hardware."""
    parser.add_argument("--out", required=True, help="output folder for model.dinomc, metrics.json and pictures")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--amp", action="store_true", help="mixed precision (float16 on CUDA, bfloat16 on CPU)")
    add_progress_argument(parser)


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The encoder and optimisation settings."""
    parser.add_argument("--encoder", required=True, help="pretrained encoder (.dinomc)")
    parser.add_argument("--epochs", type=int, help="default: 30 (full), 20 (change), 60 (per-pixel logistic and MLP "
                        "heads); the linear probe on chips is fitted to convergence, its L2 penalty cross-validated")
    parser.add_argument("--lr", type=float, help="default: 1e-4 (full), 1e-3 (change), 1e-2 (per-pixel heads)")
    parser.add_argument("--batch-size", type=int, default=32)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dinomc_core.finetune",
        description="Turn a pretrained encoder into a land-cover classifier or a change model, and evaluate one.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("classify", "single-label land-cover classification"), ("multilabel", "multi-label classification")):
        command = commands.add_parser(name, help=text)
        add_training_arguments(command)
        add_data_arguments(command, CHIP_FORMATS)
        add_run_arguments(command)
        command.add_argument("--protocol", choices=PROTOCOLS, help="frozen linear probe, weighted k-NN, full "
                             "fine-tuning, or a per-pixel head on fused features (default: pixel for --format raster and "
                             "vector, linear otherwise)")
        command.add_argument("--head", default="auto", choices=HEAD_CHOICES, help="per-pixel head (--protocol pixel); "
                             "auto keeps the best on held-out shapes (default)")
        command.add_argument("--features", default=",".join(GROUPS), help="feature groups of a per-pixel head, "
                             f"comma-separated from {', '.join(GROUPS)} (default: all)")
        command.add_argument("--window-size", type=int, default=256, help="encoder window around labelled pixels, "
                             "and the map's tile, in px (default 256)")
        command.add_argument("--knn-k", type=int, default=20)
        command.add_argument("--knn-temperature", type=float, default=0.07)
    change = commands.add_parser("change", help="Siamese change detection on city pairs")
    add_training_arguments(change)
    add_data_arguments(change, CHANGE_FORMATS)
    add_run_arguments(change)
    change.add_argument("--patch-size", type=int, default=96, help="training patch size in px (default 96)")
    change.add_argument("--patches-per-epoch", type=int, default=512)
    change.add_argument("--finetune-encoder", action="store_true", help="train the encoder too (default: frozen)")
    evaluate = commands.add_parser("evaluate", help="metrics of a model file on labelled data")
    evaluate.add_argument("--model", required=True, help="task model (.dinomc)")
    add_data_arguments(evaluate, CHIP_FORMATS + CHANGE_FORMATS)
    add_run_arguments(evaluate)
    evaluate.add_argument("--split", help="evaluate only this split (train, val, test); default: every labelled image")
    return parser


def data_options(args: argparse.Namespace) -> DataOptions:
    return DataOptions(
        labels=args.labels, class_field=args.class_field, classes=args.classes, chip_size=args.chip_size,
        nomenclature=args.nomenclature, val_fraction=args.val_fraction,
        val_cities=tuple(name.strip() for name in args.val_cities.split(",") if name.strip()), seed=args.seed,
        window_size=getattr(args, "window_size", 256),
    )


def chosen_protocol(args: argparse.Namespace) -> str:
    """The protocol asked for, or the default: per-pixel heads for single-label classes drawn over a raster."""
    if getattr(args, "protocol", None):
        return args.protocol
    return "pixel" if args.command == "classify" and args.format in PIXEL_FORMATS else "linear"


def train_options(args: argparse.Namespace) -> TrainOptions:
    return TrainOptions(
        protocol=chosen_protocol(args), epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        knn_k=getattr(args, "knn_k", 20), knn_temperature=getattr(args, "knn_temperature", 0.07), seed=args.seed,
        change_patch_size=getattr(args, "patch_size", 96), change_patches_per_epoch=getattr(args, "patches_per_epoch", 512),
        freeze_encoder=not getattr(args, "finetune_encoder", False), pixel_head=getattr(args, "head", "auto"),
        feature_groups=parse_groups(getattr(args, "features", ",".join(GROUPS)), "--features"),
    )


def run(args: argparse.Namespace, runtime: Runtime, progress: Progress) -> dict:
    """Dispatch one subcommand."""
    options = data_options(args)
    if args.command == "change":
        return train_change(args.encoder, load_change_cities(args.format, args.data, options), args.out, train_options(args), runtime, progress)
    if args.command == "classify" and chosen_protocol(args) == "pixel":
        samples = load_pixel_samples(args.format, args.data, options)
        return train_pixel_classifier(args.encoder, samples, args.out, train_options(args), runtime, options.window_size,
                                      progress)
    if args.command in ("classify", "multilabel"):
        chips = load_chips(args.format, args.data, options)
        return train_chip_classifier(args.encoder, chips, args.command == "multilabel", args.out, train_options(args), runtime, progress)
    if args.format in CHANGE_FORMATS:
        cities = cities_to_evaluate(load_change_cities(args.format, args.data, options), args.split)
        return evaluate_change(args.model, cities, args.out, runtime)
    chips = load_chips(args.format, args.data, options)
    return evaluate_chips(args.model, chips.subset(args.split) if args.split else chips, args.out, runtime)


def summary(metrics: dict) -> str:
    """One line with the headline numbers."""
    keys = ("accuracy", "balanced_accuracy", "macro_f1", "map_micro", "map_macro", "precision", "recall", "f1", "iou")
    return ", ".join(f"{key} {metrics[key]:.4f}" for key in keys if isinstance(metrics.get(key), float))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runtime = setup_runtime(args.device, args.amp)
    progress = progress_from_arguments(args) if runtime.is_main else SilentProgress()
    try:
        metrics = run(args, runtime, progress)
        if metrics:
            model = Path(args.out) / MODEL_FILE if args.command != "evaluate" else None
            progress.result({"outputs": {"folder": args.out, "model": model, "metrics": Path(args.out) / METRICS_FILE},
                             "metrics": {key: value for key, value in metrics.items() if key != "history"}})
    finally:
        progress.close()
        shutdown_distributed()
    if metrics:
        print(f"{args.command}: {summary(metrics)} -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

"""``python -m dinomc_core.change``: change maps between two dates, or over a whole folder of scenes.

Pair mode: ``--model M --before A --after B --output CHANGE.tif``. Batch mode: ``--model M --scenes DIR --out OUTDIR``.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from dinomc_core.errors import DinoMCError, run_cli
from dinomc_core.inference.batch import run_batch
from dinomc_core.downstream.pixel_features import CHANGE_GROUPS, GROUPS, parse_groups
from dinomc_core.downstream.thresholds import THRESHOLD_METHODS
from dinomc_core.inference.change import METHODS, ChangeOutputs, ChangeStats, ThresholdRule, detect_change_files
from dinomc_core.inference.cli import add_engine_arguments, engine_options
from dinomc_core.models import read_model_file
from dinomc_core.progress import progress_from_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dinomc_core.change",
        description="Map what changed between two dates (pair mode) or between consecutive dates of every place in "
        "a folder of scenes (batch mode). The change raster is uint8: 0 nodata, 1 unchanged, 2 changed.",
    )
    parser.add_argument("--model", required=True, type=Path, help="change model file (supervised) or any model file (embedding)")
    parser.add_argument("--method", choices=("auto",) + METHODS, default="auto",
                        help="supervised: a fine-tuned change model; embedding: label-free deep change vector analysis "
                        "on fused per-pixel features (default: supervised for change model files, embedding otherwise)")
    parser.add_argument("--threshold", type=float, help="changed where the magnitude is above this (default: 0.5 "
                        "for supervised, found from the magnitudes for embedding)")
    parser.add_argument("--threshold-method", choices=THRESHOLD_METHODS, default="minimum-error",
                        help="automatic threshold for embedding: minimum-error (Kittler-Illingworth, holds when change "
                        "is rare; default) or otsu")
    parser.add_argument("--change-share", type=float, help="instead of a threshold: the share of the area expected to "
                        "have changed, in percent (e.g. 5)")
    parser.add_argument("--features", default=",".join(CHANGE_GROUPS), help="feature groups of the embedding method, "
                        f"comma-separated from {', '.join(GROUPS)} (default: {','.join(CHANGE_GROUPS)})")
    pair = parser.add_argument_group("pair mode")
    pair.add_argument("--before", type=Path, help="first date: raster or folder of band files")
    pair.add_argument("--after", type=Path, help="second date (reprojected onto the first's grid when needed)")
    pair.add_argument("--output", type=Path, help="change raster (GeoTIFF)")
    pair.add_argument("--magnitude", type=Path, help="change magnitude (float32): probability or embedding distance")
    pair.add_argument("--polygons", type=Path, help="GeoPackage of changed regions with their area")
    pair.add_argument("--min-area", type=float, default=0.0, help="drop change polygons smaller than this (m²)")
    batch = parser.add_argument_group("batch mode")
    batch.add_argument("--scenes", type=Path, help="folder of scenes (rasters and one-file-per-band folders)")
    batch.add_argument("--out", type=Path, help="output folder: one folder per pair, summary.csv, summary.gpkg")
    batch.add_argument("--pairs", type=Path, help="CSV with before,after columns instead of consecutive dates")
    add_engine_arguments(parser)
    return parser


def chosen_method(method: str, model_path: Path) -> str:
    """``auto``: supervised for a change model file, embedding for any other model file."""
    if method != "auto":
        return method
    metadata, _ = read_model_file(model_path)
    return "supervised" if metadata.task == "change" else "embedding"


def check_mode(args: argparse.Namespace) -> str:
    """``pair`` or ``batch``, refusing a mix of both or an incomplete set of options."""
    pair = [args.before, args.after, args.output]
    batch = [args.scenes, args.out]
    if any(pair) and any(batch):
        raise DinoMCError("give either --before/--after/--output (pair mode) or --scenes/--out (batch mode), not both")
    if all(pair):
        return "pair"
    if all(batch):
        return "batch"
    raise DinoMCError("give --before, --after and --output (pair mode), or --scenes and --out (batch mode)")


def threshold_rule(args: argparse.Namespace) -> ThresholdRule:
    """The threshold, the expected change share, or the automatic method, from the options."""
    if args.threshold is not None and args.change_share is not None:
        raise DinoMCError("give --threshold or --change-share, not both")
    share = None if args.change_share is None else args.change_share / 100.0
    return ThresholdRule(value=args.threshold, share=share, method=args.threshold_method)


def change_figures(stats: ChangeStats) -> dict:
    """The threshold used and how much changed, in pixels, hectares and percent of the valid area."""
    return {**asdict(stats), "changed_percent": stats.changed_percent}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    mode = check_mode(args)
    method = chosen_method(args.method, args.model)
    rule, features = threshold_rule(args), parse_groups(args.features, "--features")
    progress = progress_from_arguments(args)
    try:
        if mode == "batch":
            records = run_batch(args.model, method, args.scenes, args.out, args.pairs, rule, args.bands,
                                engine_options(args), progress, args.cog)
            progress.result({"method": method, "outputs": {"folder": args.out, "summary_csv": args.out / "summary.csv",
                                                           "summary_gpkg": args.out / "summary.gpkg"},
                             "pairs": [asdict(record) for record in records]})
            print(f"{len(records)} pairs in {args.out / 'summary.csv'}", file=sys.stderr)
            return 0
        outputs = ChangeOutputs(args.output, args.magnitude, args.polygons, args.min_area, args.cog)
        stats = detect_change_files(args.model, method, args.before, args.after, outputs, rule, args.bands,
                                    engine_options(args), progress, features)
        progress.result({"method": method, "outputs": {"change": outputs.change, "magnitude": outputs.magnitude,
                                                       "polygons": outputs.polygons}, **change_figures(stats)})
    finally:
        progress.close()
    print(f"changed: {stats.changed_percent:.2f} % ({stats.changed_hectares:.2f} ha), threshold {stats.threshold:.4f}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

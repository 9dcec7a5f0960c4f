"""``python -m dinomc_core.classify --model M.dinomc INPUT --output CLASSES.tif``: a land-cover map of a raster."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dinomc_core.errors import run_cli
from dinomc_core.inference.classify import ClassArea, ClassifyOutputs, class_style, classify_file
from dinomc_core.inference.cli import add_engine_arguments, engine_options
from dinomc_core.models import read_metadata
from dinomc_core.progress import progress_from_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dinomc_core.classify",
        description="Classify a raster of any size with a classification model file; outputs keep the input's grid.",
    )
    parser.add_argument("input", type=Path, help="raster (any GDAL format) or folder of one-file-per-band rasters")
    parser.add_argument("--model", required=True, type=Path, help="classification or multi-label .dinomc model file")
    parser.add_argument("--output", required=True, type=Path, help="class raster (uint8 GeoTIFF, 255 = nodata)")
    parser.add_argument("--probabilities", type=Path, help="per-class probabilities (float32, one band per class)")
    parser.add_argument("--confidence", type=Path, help="probability of the chosen class (float32)")
    parser.add_argument("--polygons", type=Path, help="GeoPackage with one polygon per connected region")
    parser.add_argument("--min-area", type=float, default=0.0, help="drop polygons smaller than this (m²)")
    parser.add_argument("--summary", type=Path, help="CSV of pixels, hectares and percentage per class")
    parser.add_argument("--match-to", type=Path, metavar="REFERENCE",
                        help="scale each band to this raster's mean and spread first (give the scene the classifier "
                             "was trained on when mapping another date or season of it)")
    add_engine_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    outputs = ClassifyOutputs(
        classes=args.output, probabilities=args.probabilities, confidence=args.confidence, polygons=args.polygons,
        summary=args.summary, min_area=args.min_area, cog=args.cog,
    )
    progress = progress_from_arguments(args)
    try:
        rows = classify_file(args.model, args.input, outputs, args.bands, engine_options(args), progress,
                             args.match_to)
        progress.result({"outputs": {"classes": outputs.classes, "probabilities": outputs.probabilities,
                                     "confidence": outputs.confidence, "polygons": outputs.polygons,
                                     "summary": outputs.summary},
                         "classes": class_results(args.model, rows)})
    finally:
        progress.close()
    for row in rows:
        print(f"{row.name}: {row.percent:.1f} % ({row.hectares:.1f} ha)", file=sys.stderr)
    return 0


def class_results(model: Path, rows: list[ClassArea]) -> list[dict]:
    """Per class: raster value, name, the colour written in the class raster's colour table, and its area."""
    colormap = class_style(read_metadata(model).classes).colormap
    return [{"id": row.class_id, "name": row.name, "color": "#{:02x}{:02x}{:02x}".format(*colormap[row.class_id][:3]),
             "pixels": row.pixels, "hectares": row.hectares, "percent": row.percent} for row in rows]


if __name__ == "__main__":
    sys.exit(run_cli(main))

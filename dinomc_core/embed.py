"""``python -m dinomc_core.embed --model M INPUT --output EMB.tif``: per-patch DINO-MC embeddings of a raster."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dinomc_core.errors import run_cli
from dinomc_core.inference.cli import add_engine_arguments, engine_options
from dinomc_core.inference.embed import embed_file
from dinomc_core.progress import progress_from_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dinomc_core.embed",
        description="Write per-patch embeddings (float16, one band per feature) on the input's footprint; the "
        "output's pixels are the model's patches.",
    )
    parser.add_argument("input", type=Path, help="raster (any GDAL format) or folder of one-file-per-band rasters")
    parser.add_argument("--model", required=True, type=Path, help="any .dinomc model file (its encoder is used)")
    parser.add_argument("--output", required=True, type=Path, help="embedding raster (GeoTIFF)")
    parser.add_argument("--components", type=int, help="keep only the first K principal components")
    add_engine_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    progress = progress_from_arguments(args)
    try:
        grid = embed_file(args.model, args.input, args.output, args.components, args.bands, engine_options(args),
                          progress, args.cog)
        progress.result({"outputs": {"embeddings": args.output}, "width": grid.width, "height": grid.height})
    finally:
        progress.close()
    print(f"wrote {args.output}: {grid.width}x{grid.height} cells", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

"""Command-line options shared by the classify, change and embed CLIs (tiling, device, bands, progress)."""
from __future__ import annotations

import argparse

from dinomc_core.inference.engine import PRECISIONS, EngineOptions
from dinomc_core.progress import add_progress_argument


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the tiled engine and of band selection."""
    group = parser.add_argument_group("tiled inference")
    group.add_argument("--bands", nargs="+", help="raster bands for the model's bands, in the model's order: names "
                       "(B04,B03,B02) or 1-based indices (3,2,1 or 3 2 1); default: matched by name, else wavelength")
    group.add_argument("--tile-size", type=int, help="tile size in pixels (default: 256, or 4 training chips)")
    group.add_argument("--overlap", type=int, help="overlap of neighbouring tiles in pixels (default: an eighth of a tile)")
    group.add_argument("--batch-size", type=int, default=8, help="tiles per model call (default: 8)")
    group.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: CUDA when present")
    group.add_argument("--precision", default="auto", choices=PRECISIONS,
                       help="default: bf16 on CUDA and on CPUs with native bf16, else fp32")
    group.add_argument("--cog", action="store_true", help="write Cloud Optimized GeoTIFFs")
    add_progress_argument(parser)


def engine_options(args: argparse.Namespace) -> EngineOptions:
    return EngineOptions(
        tile_size=args.tile_size, overlap=args.overlap, batch_size=args.batch_size, device=args.device,
        precision=args.precision,
    )

"""Pack pretraining data into one file that trains without GDAL: ``python -m dinomc_core.pack INPUTS --out data.npz``."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dinomc_core.data.packed import __doc__ as PACKED_DOC
from dinomc_core.data.packed import pack_pretrain_data
from dinomc_core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=PACKED_DOC.splitlines()[0],
                                     epilog="then: python -m dinomc_core.pretrain --data data.npz ...")
    parser.add_argument("inputs", nargs="+", type=Path, help="raster files or folders, as pretrain --data takes them")
    parser.add_argument("--out", required=True, type=Path, help="the packed file to write (.npz)")
    parser.add_argument("--bands", help="bands to keep, by name or 1-based number (default: every data band)")
    parser.add_argument("--lossless", action="store_true",
                        help="keep the values as they are (default: 8 bits per band and image, about half the size)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(pack_pretrain_data(args.inputs, args.out, args.bands, args.lossless))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

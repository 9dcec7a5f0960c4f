"""``python -m dinomc_core.convert``: import an official DINO / DINO-MC checkpoint into a ``.dinomc`` file."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from dinomc_core.errors import DinoMCError, run_cli
from dinomc_core.models.backbone import create_backbone
from dinomc_core.models.modelfile import encoder_tensors, metadata_for_backbone, save_model_file
from dinomc_core.models.official import infer_arch, read_official_checkpoint

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def _floats(text: str) -> list[float]:
    return [float(value) for value in text.split(",")]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dinomc_core.convert",
        description="Import a checkpoint released by the DINO-MC or DINO authors (ViT-S/8, ViT-S/16, ResNet-50, "
        "WRN-50-2) into a .dinomc model file. The official models take 8-bit RGB previews normalised with "
        "ImageNet statistics; those are the defaults.",
    )
    parser.add_argument("checkpoint", help="the .pth file (with 'teacher'/'student' dicts, or a bare state dict)")
    parser.add_argument("--output", "-o", required=True, help="the .dinomc file to write")
    parser.add_argument("--key", default="teacher", help="which weights to take (default: teacher)")
    parser.add_argument("--bands", default="red,green,blue", help="band names in input order (default: red,green,blue)")
    parser.add_argument("--scale", type=float, default=1 / 255, help="raw value to [0, 1] factor (default 1/255)")
    parser.add_argument("--mean", type=_floats, default=IMAGENET_MEAN, help="per-band means after scaling")
    parser.add_argument("--std", type=_floats, default=IMAGENET_STD, help="per-band standard deviations after scaling")
    parser.add_argument("--gsd", type=float, default=10.0, help="ground sampling distance in metres (default 10)")
    parser.add_argument("--tile-size", type=int, default=224, help="default tile size in pixels (default 224)")
    return parser.parse_args(argv)


def convert_checkpoint(args: argparse.Namespace) -> Path:
    """Read the official weights, check they load strictly into our backbone, write the model file."""
    weights = read_official_checkpoint(args.checkpoint, key=args.key)
    arch, in_chans = infer_arch(weights)
    bands = [band.strip() for band in args.bands.split(",")]
    if len(bands) != in_chans or len(args.mean) != in_chans or len(args.std) != in_chans:
        raise DinoMCError(f"the checkpoint takes {in_chans} bands: give {in_chans} names to --bands and {in_chans} values to --mean and --std")
    backbone = create_backbone(arch, in_chans)
    result = backbone.model.load_state_dict(weights, strict=False)
    if result.missing_keys or result.unexpected_keys:
        problem = (result.missing_keys or result.unexpected_keys)[0]
        raise DinoMCError(f"the checkpoint's weights do not fit {arch} (first mismatch: {problem})")
    metadata = metadata_for_backbone(
        backbone,
        bands=bands,
        normalization={"scale": [args.scale] * in_chans, "mean": list(args.mean), "std": list(args.std)},
        gsd=args.gsd,
        tile_size=args.tile_size,
        provenance={"source": str(Path(args.checkpoint).name), "weights": args.key, "imported_by": "dinomc_core.convert"},
    )
    return save_model_file(args.output, metadata, encoder_tensors(backbone))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    path = convert_checkpoint(args)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

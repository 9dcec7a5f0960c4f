"""Tiled-inference benchmark: classify throughput against the bare model, and peak memory against raster size.

Prints one JSON line with end-to-end pixels per second for classify on a 4096 x 4096, 13-band raster; bare
model-forward pixels per second on the same number of tiles with the same batch size and precision; their
ratio; and the peak resident memory of classify runs at 2048 and 8192 pixels square (each in a fresh process).
``--head pixel`` measures a per-pixel classifier on fused features (bands, indices, encoder context; the head
``--pixel-head``, trained on random features of as many pixels as a few polygons give) instead of a chip classifier
mapped at the encoder's scale, and also times the chip classifier with the same encoder on the same raster
(``pixel_over_chip_seconds``). ``--model`` times a pixel classifier trained on real labels instead (a forest's
speed depends on its size, which random classes make as large as it gets), against a chip classifier with its
encoder's architecture.
Rasters and the model (random weights) are generated in a temporary folder and deleted afterwards.

    python benchmarks/tiled_inference.py [--arch vit_small_patch8_224] [--size 4096] [--memory-sizes 2048 8192]
        [--memory-arch vit_tiny_patch16_224] [--head chip|pixel] [--pixel-head mlp|logistic|forest|knn]
    python benchmarks/tiled_inference.py --model runs/drawn/model.dinomc --memory-sizes
"""
from __future__ import annotations

import os

# As the CLIs do (dinomc_core/classify.py): OpenMP threads wait passively, so the reader and writer threads get
# the cores they need; set before torch loads OpenMP, and inherited by the memory runs' processes.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.transform import from_origin
from rasterio.windows import Window

from dinomc_core.data import SENTINEL2_BANDS
from dinomc_core.data.normalization import Normalization
from dinomc_core.downstream.pixel_features import FeatureFusion, fused_layout
from dinomc_core.downstream.pixel_training import HEADS, PixelHeadOptions, train_one_head
from dinomc_core.downstream.task_model import (
    ChipClassifier,
    LinearHead,
    PixelClassifier,
    PixelHead,
    load_task_model,
    save_task_model,
)
from dinomc_core.errors import DinoMCError
from dinomc_core.inference.classify import ClassifyOutputs, ClassProbabilities, classify_file
from dinomc_core.inference.engine import EngineOptions, ModelRunner
from dinomc_core.models import create_backbone, metadata_for_backbone

CLASSES = 10
CHIP = 64
TRAINING_PIXELS = 1500
"""Labelled pixels of the pixel heads: 10 classes of 3 squares of 7 x 7 px, as in benchmarks/pixel_maps.py."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vit_small_patch8_224", help="default: ViT-S/8, the DINO-MC paper's backbone")
    parser.add_argument("--size", type=int, default=4096, help="side of the throughput raster (px)")
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[2048, 8192])
    parser.add_argument("--memory-arch", help="model of the memory runs (default: --arch); memory hardly depends on it")
    parser.add_argument("--tile-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--repeats", type=int, default=2,
                        help="alternate classify and bare-model runs this many times and keep the best of each, so "
                        "both see the same load on a shared machine")
    parser.add_argument("--workdir", type=Path, help="where to generate rasters (default: a temporary folder)")
    parser.add_argument("--head", choices=("chip", "pixel"), default="chip",
                        help="chip classifier mapped at the encoder's scale, or per-pixel classifier on fused features")
    parser.add_argument("--pixel-head", choices=HEADS, default="mlp", help="classifier of --head pixel")
    parser.add_argument("--model", type=Path, help="time this pixel classifier (a model file of 13 Sentinel-2 bands "
                        "trained by finetune classify) instead of one on random features; sets --head pixel and --arch")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "RASTER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.model:
        try:
            metadata = load_task_model(args.model).metadata
        except DinoMCError as error:
            parser.error(str(error))
        if metadata.head.get("type") != "pixel":
            parser.error(f"--model {args.model} is not a pixel classifier (its head is {metadata.head.get('type')})")
        args.head, args.arch, args.pixel_head = "pixel", metadata.arch, metadata.head["classifier"]["type"]
        args.classifier = metadata.head["classifier"]
    return args


def make_model(path: Path, arch: str, head: str = "chip", tile_size: int = 256, pixel_head: str = "mlp") -> Path:
    """A 13-band classification model file with random weights (speed does not depend on training): a chip
    classifier, or a per-pixel classifier on fused features whose tile is ``tile_size``, trained on random features
    and classes of ``TRAINING_PIXELS`` (a forest's size, which its speed depends on, follows from them)."""
    torch.manual_seed(0)
    encoder = create_backbone(arch, len(SENTINEL2_BANDS)).eval()
    normalization = {"scale": [1e-4] * 13, "mean": [0.12] * 13, "std": [0.05] * 13}
    if head == "pixel":
        layout = fused_layout(encoder, SENTINEL2_BANDS)
        fusion = FeatureFusion(layout, Normalization.from_dict(normalization), SENTINEL2_BANDS)
        generator = torch.Generator().manual_seed(0)
        features = torch.randn(TRAINING_PIXELS, layout.dim, generator=generator)
        targets = torch.randint(0, CLASSES, (TRAINING_PIXELS,), generator=generator)
        classifier = train_one_head(pixel_head, features, targets, CLASSES, PixelHeadOptions(epochs=5))
        model = PixelClassifier(encoder, PixelHead(fusion, classifier), tile_size)
        chip = tile_size
    else:
        model = ChipClassifier(encoder, LinearHead(encoder.feature_dim, CLASSES), multilabel=False, tile_size=CHIP)
        chip = CHIP
    classes = [{"name": f"class {index}", "color": ""} for index in range(CLASSES)]
    metadata = metadata_for_backbone(encoder, bands=list(SENTINEL2_BANDS), normalization=normalization,
                                     task="classification", classes=classes, head=model.describe(), tile_size=chip)
    return save_task_model(path, model, metadata)


def make_raster(path: Path, size: int) -> Path:
    """A size x size, 13-band uint16 Sentinel-2-like GeoTIFF (tiled, DEFLATE), written strip by strip."""
    profile = dict(driver="GTiff", width=size, height=size, count=13, dtype="uint16", crs="EPSG:32631",
                   transform=from_origin(500000, 5500000, 10, 10), tiled=True, blockxsize=256, blockysize=256,
                   compress="deflate", predictor=2, bigtiff="if_safer")
    rng = np.random.default_rng(0)
    cols = np.arange(size, dtype=np.float32)
    with rasterio.open(path, "w", **profile) as dataset:
        for index, band in enumerate(SENTINEL2_BANDS, start=1):
            dataset.set_band_description(index, band)
        for top in range(0, size, 512):
            rows = np.arange(top, min(top + 512, size), dtype=np.float32)[:, None]
            pattern = np.sin(rows / 37.0) * np.cos(cols / 53.0)
            strip = np.stack([1000 + 500 * band * pattern / 13 + rng.normal(0, 40, pattern.shape) for band in range(13)])
            dataset.write(strip.astype(np.uint16), window=Window(0, top, size, len(rows)))
    return path


def options(args: argparse.Namespace) -> EngineOptions:
    return EngineOptions(tile_size=args.tile_size, batch_size=args.batch_size, precision=args.precision)


def classify_seconds(model: Path, raster: Path, args: argparse.Namespace) -> float:
    started = time.perf_counter()
    classify_file(model, raster, ClassifyOutputs(raster.with_name(raster.stem + "_classes.tif")), options=options(args))
    return time.perf_counter() - started


def forward_seconds(model: Path, size: int, args: argparse.Namespace) -> tuple[float, str]:
    """The model alone on as many tiles as classify runs, same batch size and precision, tensors made in advance;
    returns the seconds and the precision used (``auto`` is resolved on the warm-up batch)."""
    predictor = ClassProbabilities(load_task_model(model))
    engine = options(args)
    grid = engine.grid(size, size, predictor)
    runner = ModelRunner(predictor, engine)
    batch = [np.random.default_rng(0).normal(size=(13, grid.tile, grid.tile)).astype(np.float32)] * args.batch_size
    runner(batch)
    started = time.perf_counter()
    for _ in range(math.ceil(len(grid) / args.batch_size)):
        runner(batch)
    return time.perf_counter() - started, str(runner.dtype).removeprefix("torch.")


def peak_memory_mb(model: Path, raster: Path, args: argparse.Namespace) -> float:
    """Peak resident memory of a classify run in a fresh process."""
    command = [sys.executable, __file__, "--child", str(model), str(raster), "--tile-size", str(args.tile_size),
               "--batch-size", str(args.batch_size), "--precision", args.precision]
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip())


def child(args: argparse.Namespace) -> None:
    model, raster = map(Path, args.child)
    classify_seconds(model, raster, args)
    print(peak_rss_mb())


def peak_rss_mb() -> float:
    """This process's peak resident memory: ``VmHWM`` of Linux, which starts afresh at ``exec``.

    ``getrusage``'s ``ru_maxrss`` would be wrong here: Linux carries the parent's resident size at ``fork`` into
    it, and the parent holds GDAL's cache of the rasters it just wrote.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        work = Path(folder)
        if args.model:
            model = args.model
        else:
            model = make_model(work / "model.dinomc", args.arch, args.head, args.tile_size, args.pixel_head)
        chip_model = make_model(work / "chip.dinomc", args.arch) if args.head == "pixel" else None
        raster = make_raster(work / f"scene_{args.size}.tif", args.size)
        end_to_end_seconds, forward, chip_seconds, precision = [], [], [], ""
        for _ in range(args.repeats):
            end_to_end_seconds.append(classify_seconds(model, raster, args))
            seconds, precision = forward_seconds(model, args.size, args)
            forward.append(seconds)
            if chip_model is not None:
                chip_seconds.append(classify_seconds(chip_model, raster, args))
        end_to_end = args.size**2 / min(end_to_end_seconds)
        bare = args.size**2 / min(forward)
        memory_model = make_model(work / "memory.dinomc", args.memory_arch, args.head, args.tile_size,
                                  args.pixel_head) if args.memory_arch else model
        memory = {}
        for size in args.memory_sizes:
            raster = make_raster(work / f"memory_{size}.tif", size)
            memory[f"peak_rss_mb_{size}"] = round(peak_memory_mb(memory_model, raster, args), 1)
            raster.unlink()
    head = args.head if args.head == "chip" else f"pixel ({args.pixel_head})"
    result = {
        "head": head, "arch": args.arch, "memory_arch": args.memory_arch or args.arch, "size": args.size,
        "tile_size": args.tile_size, "batch_size": args.batch_size, "precision": precision,
        "threads": torch.get_num_threads(),
        "end_to_end_pixels_per_s": round(end_to_end), "forward_pixels_per_s": round(bare),
        "ratio": round(end_to_end / bare, 3), **memory,
    }
    if args.model:
        result.update(model=str(args.model), classifier=args.classifier)
    if chip_seconds:
        result["pixel_over_chip_seconds"] = round(min(end_to_end_seconds) / min(chip_seconds), 3)
    if len(args.memory_sizes) == 2:
        low, high = (memory[f"peak_rss_mb_{size}"] for size in args.memory_sizes)
        result["memory_ratio"] = round(high / low, 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Quick-look PNGs of the demo's maps: the scene in true colour beside its class map (with a legend) or its change.

    python scripts/quicklook.py classes SCENE CLASSES.tif OUT.png [--title T]
    python scripts/quicklook.py change BEFORE AFTER CHANGE.tif OUT.png [--reference LABEL.tif] [--title T]
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
from matplotlib.patches import Patch

from dinomc_core.data import open_scene
from dinomc_core.data.bands import rgb_indices
from dinomc_core.errors import DinoMCError, run_cli
from dinomc_core.plotting import pyplot as plt

CHANGED = 2


def true_colour(path: Path) -> np.ndarray:
    """``(H, W, 3)`` red, green and blue stretched between their 2nd and 98th percentiles."""
    with open_scene(path) as scene:
        positions = rgb_indices(scene.band_names) or (0, 1, 2)
        rgb = scene.read(list(positions)).astype(np.float32)
    low, high = np.percentile(rgb, 2, axis=(1, 2), keepdims=True), np.percentile(rgb, 98, axis=(1, 2), keepdims=True)
    return np.moveaxis(np.clip((rgb - low) / np.maximum(high - low, 1e-6), 0, 1), 0, -1)


def class_map(path: Path) -> tuple[np.ndarray, list[Patch]]:
    """The class raster in its colour table's colours (nodata transparent) and a legend of the classes present."""
    with rasterio.open(path) as dataset:
        values = dataset.read(1)
        colours = dataset.colormap(1)
        names = {int(key.split("_")[1]): name for key, name in dataset.tags().items() if key.startswith("CLASS_")}
    picture = np.zeros(values.shape + (4,), np.float32)
    legend = []
    for value, name in sorted(names.items()):
        rgba = np.array(colours[value], np.float32) / 255
        picture[values == value] = rgba
        share = float((values == value).mean() * 100)
        if share > 0:
            legend.append(Patch(color=rgba[:3], label=f"{name} ({share:.1f} %)"))
    return picture, legend


def save_pair(left: np.ndarray, right: np.ndarray, titles: tuple[str, str], out: Path, legend: list[Patch],
              title: str) -> None:
    figure, axes = plt.subplots(1, 2, figsize=(10, 5.4))
    for axis, image, name in zip(axes, (left, right), titles):
        axis.imshow(image, interpolation="nearest")
        axis.set_title(name, fontsize=10)
        axis.axis("off")
    if legend:
        axes[1].legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    figure.savefig(out, dpi=90)
    plt.close(figure)


def change_overlay(after: Path, change: Path, reference: Path | None) -> tuple[np.ndarray, list[Patch]]:
    """The after image, greyed, with detected change in red and (when given) labelled change outlined in cyan."""
    base = true_colour(after).mean(axis=-1, keepdims=True).repeat(3, axis=-1) * 0.8
    with rasterio.open(change) as dataset:
        changed = dataset.read(1) == CHANGED
    base[changed] = (0.9, 0.1, 0.1)
    legend = [Patch(color=(0.9, 0.1, 0.1), label=f"changed ({changed.mean() * 100:.1f} %)")]
    if reference is not None:
        with warnings.catch_warnings():  # OSCD's label rasters carry no georeferencing; they share the scene's grid
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(reference) as dataset:
                labelled = dataset.read(1)[: changed.shape[0], : changed.shape[1]] == CHANGED
        edge = labelled & ~(np.roll(labelled, 1, 0) & np.roll(labelled, -1, 0) & np.roll(labelled, 1, 1) & np.roll(labelled, -1, 1))
        base[edge] = (0.1, 0.9, 0.9)
        legend.append(Patch(color=(0.1, 0.9, 0.9), label="labelled change (outline)"))
    return base, legend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("classes", "change"))
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--reference", type=Path, help="labelled change raster (1 unchanged, 2 changed)")
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    if args.kind == "classes":
        if len(args.paths) != 3:
            raise DinoMCError("classes needs SCENE CLASSES.tif OUT.png")
        scene, classes, out = args.paths
        picture, legend = class_map(classes)
        save_pair(true_colour(scene), picture, ("true colour", "land cover"), out, legend, args.title)
    else:
        if len(args.paths) != 4:
            raise DinoMCError("change needs BEFORE AFTER CHANGE.tif OUT.png")
        before, after, change, out = args.paths
        picture, legend = change_overlay(after, change, args.reference)
        save_pair(true_colour(before), picture, ("before", "after, with change"), out, legend, args.title)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

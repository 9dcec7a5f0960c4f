"""Pixel maps and label-free change next to the classic methods, on the real samples in ../shared/data.

1. Few-shot land cover: the 80 EuroSAT chips mosaicked into one 13-band raster (random places on an 8 x 10 grid),
   a label raster of the chips' classes, and 3 squares of 7 x 7 px drawn per class inside training chips (as an
   analyst would draw them). Trained from the squares only; scored on every pixel of the 20 validation chips.
   Ours: per-pixel heads on bands only, on DINO-MC context only, and fused (``finetune classify --format vector``,
   then ``classify``). Classic: Gaussian maximum likelihood per pixel (the Semi-Automatic Classification Plugin's
   classifier) and a random forest on the squares' pixels.
2. Few-shot water on the same mosaic: 6 squares in SeaLake chips against 3 squares in each land class; IoU of
   water on the validation chips, where every pixel of a SeaLake chip is water and every pixel of a land chip is
   land (River chips, mostly land around a thin river, are left out of training and scoring). Classic: maximum
   likelihood, a random forest, NDWI > 0.
3. Label-free change on the 10 OSCD cities: deep change vector analysis (``change --method embedding``) with bands
   only, bands and texture, context only and fused, next to change vector analysis on the standardised bands with
   Otsu's threshold, as analysts run it and with its magnitude smoothed as deep CVA's is (a gaussian of 1 px).
   Pooled F1 over all pixels of all cities, and the mean per-city AUC of the magnitude.

Land cover and water are run on ``--draws`` draws (3 by default) of the mosaic's arrangement and of the squares: one
draw of 3 squares per class moves the scores by several points (the table gives the range).

    python benchmarks/pixel_maps.py --encoder ENCODER.dinomc --work runs/pixel_maps [--doc docs/results.md]

With ``--doc``, the table replaces what stands between ``<!-- pixelmaps:begin -->`` and ``<!-- pixelmaps:end -->``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import torch
from rasterio.transform import from_origin
from shapely.geometry import box

from dinomc_core.data.bands import EUROSAT_MS_BANDS
from dinomc_core.data.eurosat import load_eurosat
from dinomc_core.data.oscd import list_cities, read_city
from dinomc_core.downstream.baselines import GaussianMaximumLikelihood, change_vector_magnitude, otsu_threshold
from dinomc_core.downstream.pixel_features import CHANGE_GROUPS
from dinomc_core.errors import run_cli
from dinomc_core.filters import gaussian_blur
from dinomc_core.inference.deep_change import MAGNITUDE_SMOOTHING
from dinomc_core.models import load_model
from results_real import fill_between_markers

CHIP = 64
GRID_COLUMNS = 10
SQUARE = 7
SQUARES_PER_CLASS = 3
WATER_CLASSES = ("SeaLake", "River")
"""Open water, and the class left out of the water task (mostly land around a thin river)."""
OSCD_IMAGES = "oscd/Onera Satellite Change Detection dataset - Images"
VARIANTS = {"bands only": "bands,indices", "bands and texture": "bands,indices,texture", "DINO-MC context only": "context",
            "fused": "bands,indices,texture,context"}
CHANGE_VARIANTS = {"bands only": "bands", "bands and texture": "bands,texture", "DINO-MC context only": "context",
                   "fused": ",".join(CHANGE_GROUPS)}
TASKS = ("landcover", "water", "change")
CLASSIC_METHODS = ("maximum likelihood (Gaussian)", "random forest", "NDWI > 0")
TRANSFORM = from_origin(500000, 5400000, 10, 10)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", required=True, type=Path, help="encoder (.dinomc) for the DINO-MC features")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("runs/pixel_maps"))
    parser.add_argument("--seed", type=int, default=0, help="seed of the first draw")
    parser.add_argument("--draws", type=int, default=3, help="draws of the mosaic and its squares for land cover "
                        "and water (seeds --seed, --seed + 1, ...); the table gives the mean and the range")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated from {', '.join(TASKS)}; results "
                        "of the others are kept from an earlier run's results.json in --work")
    parser.add_argument("--doc", type=Path, help="markdown file to write the table into (e.g. docs/results.md)")
    return parser


def cli(*argv: str) -> None:
    subprocess.run([sys.executable, "-m", *argv], check=True)


def build_mosaic(data: Path, work: Path, seed: int) -> dict:
    """The EuroSAT chips on one grid: the raster, the class of each pixel, and which pixels are validation chips."""
    chips = load_eurosat(data / "eurosat_ms")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(chips))
    rows = -(-len(chips) // GRID_COLUMNS)
    image = np.zeros((len(EUROSAT_MS_BANDS), rows * CHIP, GRID_COLUMNS * CHIP), np.uint16)
    labels = np.zeros(image.shape[1:], np.int64)
    validation = np.zeros(image.shape[1:], bool)
    places = []
    for slot, index in enumerate(order):
        top, left = (slot // GRID_COLUMNS) * CHIP, (slot % GRID_COLUMNS) * CHIP
        chip = chips.chips[index]
        image[:, top:top + CHIP, left:left + CHIP] = chips.read(index)
        labels[top:top + CHIP, left:left + CHIP] = chip.target[0] + 1
        validation[top:top + CHIP, left:left + CHIP] = chip.split == "val"
        places.append((top, left, chip.target[0], chip.split))
    path = work / "eurosat_mosaic.tif"
    profile = dict(driver="GTiff", width=image.shape[2], height=image.shape[1], count=image.shape[0], dtype="uint16",
                   crs="EPSG:32631", transform=TRANSFORM)
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(image)
        for band, name in enumerate(EUROSAT_MS_BANDS, start=1):
            dataset.set_band_description(band, name)
    return {"path": path, "image": image, "labels": labels, "validation": validation, "places": places,
            "classes": list(chips.classes)}


def draw_squares(mosaic: dict, work: Path, seed: int, classes_of: dict[int, str], name: str,
                 counts: dict[int, int] | None = None) -> tuple[Path, np.ndarray]:
    """Squares of 7 x 7 px (3 per chip class, or ``counts``), each in a different training chip of that class, named
    by ``classes_of``; the file and the squares' class values (1..K in order of first appearance)."""
    rng = np.random.default_rng(seed)
    square_labels = np.zeros(mosaic["labels"].shape, np.int64)
    records = []
    class_names = sorted(set(classes_of.values()), key=list(classes_of.values()).index)
    for class_index in sorted(classes_of):
        places = [place for place in mosaic["places"] if place[2] == class_index and place[3] == "train"]
        count = (counts or {}).get(class_index, SQUARES_PER_CLASS)
        for top, left, _, _ in [places[i] for i in rng.choice(len(places), count, replace=False)]:
            row, col = top + rng.integers(0, CHIP - SQUARE), left + rng.integers(0, CHIP - SQUARE)
            x0, y0 = TRANSFORM * (col, row)
            x1, y1 = TRANSFORM * (col + SQUARE, row + SQUARE)
            records.append({"class": classes_of[class_index], "geometry": box(x0, y1, x1, y0)})
            square_labels[row:row + SQUARE, col:col + SQUARE] = class_names.index(classes_of[class_index]) + 1
    path = work / f"{name}_squares.gpkg"
    gpd.GeoDataFrame(records, crs="EPSG:32631").to_file(path, driver="GPKG")
    return path, square_labels


def train_and_map(encoder: Path, mosaic: dict, squares: Path, classes: list[str], work: Path, name: str,
                  features: str) -> np.ndarray:
    """A per-pixel head from the squares and its class map of the whole mosaic (class indices, 255 nodata)."""
    out = work / name
    cli("dinomc_core.finetune", "classify", "--encoder", str(encoder), "--data", str(mosaic["path"]), "--format",
        "vector", "--labels", str(squares), "--class-field", "class", "--classes", ",".join(classes), "--features", features, "--out", str(out),
        "--quiet", "--device", "cpu")
    cli("dinomc_core.classify", "--model", str(out / "model.dinomc"), str(mosaic["path"]), "--output",
        str(out / "map.tif"), "--quiet", "--device", "cpu")
    with rasterio.open(out / "map.tif") as dataset:
        return dataset.read(1)


def spectra(image: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` reflectance of the mosaic, the classic classifiers' input."""
    return np.moveaxis(image.astype(np.float64) * 1e-4, 0, -1)


def classic_maps(mosaic: dict, square_labels: np.ndarray, num_classes: int, seed: int) -> dict[str, np.ndarray]:
    """Maximum likelihood and a random forest trained on the squares' pixels, applied to every pixel."""
    from sklearn.ensemble import RandomForestClassifier

    pixels = spectra(mosaic["image"])
    flat = pixels.reshape(-1, pixels.shape[-1])
    mask = square_labels > 0
    train_x, train_y = pixels[mask], square_labels[mask] - 1
    likelihood = GaussianMaximumLikelihood().fit(train_x, train_y, num_classes).predict(flat)
    forest = RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=2).fit(train_x, train_y).predict(flat)
    shape = square_labels.shape
    return {"maximum likelihood (Gaussian)": likelihood.reshape(shape), "random forest": forest.reshape(shape)}


def ndwi(image: np.ndarray) -> np.ndarray:
    green, nir = (image[EUROSAT_MS_BANDS.index(name)].astype(np.float64) for name in ("B03", "B08"))
    return (green - nir) / np.maximum(green + nir, 1e-6)


def land_cover(encoder: Path, mosaic: dict, work: Path, seed: int) -> dict[str, float]:
    """Pixel accuracy on the validation chips of each method, trained from 3 squares per class."""
    classes = mosaic["classes"]
    squares, square_labels = draw_squares(mosaic, work, seed, dict(enumerate(classes)), "landcover")
    truth, scored = mosaic["labels"] - 1, mosaic["validation"]
    results = {}
    for name, groups in VARIANTS.items():
        predicted = train_and_map(encoder, mosaic, squares, classes, work, f"landcover_{groups.replace(',', '_')}", groups)
        results[name] = float((predicted[scored] == truth[scored]).mean())
    for name, predicted in classic_maps(mosaic, square_labels, len(classes), seed).items():
        results[name] = float((predicted[scored] == truth[scored]).mean())
    return results


def water(encoder: Path, mosaic: dict, work: Path, seed: int) -> dict[str, float]:
    """IoU of water on the validation chips (SeaLake water, River left out), trained from squares."""
    classes = mosaic["classes"]
    lake, river = (classes.index(name) for name in WATER_CLASSES)
    classes_of = {index: ("water" if index == lake else "land") for index in range(len(classes)) if index != river}
    squares, square_labels = draw_squares(mosaic, work, seed + 1, classes_of, "water", {lake: 2 * SQUARES_PER_CLASS})
    index_map = ndwi(mosaic["image"])
    chip_class = mosaic["labels"] - 1
    truth = chip_class == lake
    scored = mosaic["validation"] & (chip_class != river)

    def iou(predicted_water: np.ndarray) -> float:
        a, b = predicted_water[scored], truth[scored]
        return float((a & b).sum() / max((a | b).sum(), 1))

    results = {}
    names = sorted(set(classes_of.values()), key=list(classes_of.values()).index)
    water_index = names.index("water")
    for name, groups in VARIANTS.items():
        predicted = train_and_map(encoder, mosaic, squares, names, work, f"water_{groups.replace(',', '_')}", groups)
        results[name] = iou(predicted == water_index)
    for name, predicted in classic_maps(mosaic, square_labels, len(names), seed).items():
        results[name] = iou(predicted == water_index)
    results["NDWI > 0"] = iou(index_map > 0)
    return results


def auc(scores: np.ndarray, targets: np.ndarray) -> float:
    """Area under the ROC curve (rank statistic; ties count half)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    positives = targets.sum()
    negatives = len(targets) - positives
    return float((ranks[targets].sum() - positives * (positives + 1) / 2) / max(positives * negatives, 1))


def change(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Pooled F1 and mean AUC of label-free change on every OSCD city of the sample; change vector analysis sees the
    encoder's bands (13 for a Sentinel-2 encoder, 3 for an RGB one), as deep CVA does."""
    bands = load_model(args.encoder).metadata.bands
    cities = list_cities(args.data / "oscd")
    results: dict[str, dict] = {}
    pooled: dict[str, np.ndarray] = {}
    for city in cities:
        pair = read_city(city, list(bands))
        target = pair.change.astype(bool).ravel()
        magnitude = change_vector_magnitude(pair.before, pair.after)
        predicted = magnitude >= otsu_threshold(magnitude)
        add_city(results, pooled, "change vector analysis + Otsu", predicted.ravel(), magnitude.ravel(), target)
        smoothed = gaussian_blur(torch.from_numpy(magnitude)[None], MAGNITUDE_SMOOTHING)[0].numpy()
        add_city(results, pooled, "change vector analysis, smoothed as deep CVA + Otsu",
                 (smoothed >= otsu_threshold(smoothed)).ravel(), smoothed.ravel(), target)
        folder = args.data / OSCD_IMAGES / city.name
        for name, groups in CHANGE_VARIANTS.items():
            out = args.work / f"change_{groups.replace(',', '_')}" / city.name
            out.mkdir(parents=True, exist_ok=True)
            cli("dinomc_core.change", "--model", str(args.encoder), "--method", "embedding", "--features", groups,
                "--before", str(folder / "imgs_1"), "--after", str(folder / "imgs_2"), "--output",
                str(out / "change.tif"), "--magnitude", str(out / "magnitude.tif"), "--quiet", "--device", "cpu")
            with rasterio.open(out / "change.tif") as dataset:
                mask = dataset.read(1)[: pair.change.shape[0], : pair.change.shape[1]] == 2
            with rasterio.open(out / "magnitude.tif") as dataset:
                values = np.nan_to_num(dataset.read(1)[: pair.change.shape[0], : pair.change.shape[1]])
            add_city(results, pooled, f"deep CVA, {name}", mask.ravel(), values.ravel(), target)
    return {name: {"f1": f1(pooled[name]), "auc": float(np.mean(entry["auc"])), "changed": float(np.mean(entry["changed"]))}
            for name, entry in results.items()}


def add_city(results: dict, pooled: dict, name: str, predicted: np.ndarray, scores: np.ndarray, target: np.ndarray) -> None:
    counts = np.array([(predicted & target).sum(), (predicted & ~target).sum(), (~predicted & target).sum()])
    pooled[name] = pooled.get(name, 0) + counts
    entry = results.setdefault(name, {"auc": [], "changed": []})
    entry["auc"].append(auc(scores, target))
    entry["changed"].append(float(predicted.mean()))


def f1(counts: np.ndarray) -> float:
    true_positive, false_positive, false_negative = counts
    return float(2 * true_positive / max(2 * true_positive + false_positive + false_negative, 1))


def mean_and_range(values: float | list[float]) -> str:
    """``mean (lowest to highest)`` in percent over the draws; one figure for one draw."""
    values = np.atleast_1d(values) * 100
    spread = f" ({values.min():.1f} to {values.max():.1f})" if len(values) > 1 else ""
    return f"{values.mean():.1f}{spread}"


def fused_margins(scores: dict[str, float | list[float]]) -> str:
    """The fused map's lead over the best classic method (maximum likelihood, random forest, NDWI), draw by draw."""
    classic = [np.atleast_1d(value) for name, value in scores.items() if name in CLASSIC_METHODS]
    margins = 100 * (np.atleast_1d(scores["fused"]) - np.max(classic, axis=0))
    return ", ".join(f"{margin:+.1f}" for margin in margins)


def table(results: dict) -> str:
    lines = ["| task | method | score: mean (range over the draws) |", "|---|---|---|"]
    tasks = {"land_cover": "few-shot land cover, 3 squares per class, pixel accuracy on 20 held-out chips (%)",
             "water": "few-shot water, IoU on 20 held-out chips (%)"}
    for task, label in tasks.items():
        for name, value in results.get(task, {}).items():
            lines.append(f"| {label} | {name} | {mean_and_range(value)} |")
    for name, value in results.get("change", {}).items():
        lines.append(f"| label-free change, 10 OSCD cities: pooled F1 / mean AUC / share marked changed (%) | {name} | "
                     f"{100 * value['f1']:.1f} / {100 * value['auc']:.1f} / {100 * value['changed']:.1f} |")
    for task, label in (("land_cover", "Few-shot land cover"), ("water", "Few-shot water")):
        if task in results:
            lines.append(f"\n{label}: fused minus the best classic method, draw by draw: "
                         f"{fused_margins(results[task])} points.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    tasks = [name.strip() for name in args.tasks.split(",")]
    saved = args.work / "results.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}
    draws: dict[str, list[dict[str, float]]] = {"land_cover": [], "water": []}
    for draw in range(args.draws if "landcover" in tasks or "water" in tasks else 0):
        seed, work = args.seed + draw, args.work / f"draw{draw}"
        work.mkdir(exist_ok=True)
        mosaic = build_mosaic(args.data, work, seed)
        if "landcover" in tasks:
            draws["land_cover"].append(land_cover(args.encoder, mosaic, work, seed))
        if "water" in tasks:
            draws["water"].append(water(args.encoder, mosaic, work, seed))
    for task, runs in draws.items():
        if runs:
            results[task] = {name: [run[name] for run in runs] for name in runs[0]}
    if "change" in tasks:
        results["change"] = change(args)
    if set(tasks) & set(TASKS):
        results["minutes"] = (time.monotonic() - start) / 60
    (args.work / "results.json").write_text(json.dumps(results, indent=2))
    text = f"{table(results)}\n\nEncoder: `{args.encoder.name}`; {results['minutes']:.1f} minutes on 2 shared cores."
    print(text)
    if args.doc:
        args.doc.write_text(fill_between_markers(args.doc.read_text(), "pixelmaps", text))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

"""Predictions over whole evaluation sets and their metrics (counts summed over the set, never batch means)."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from dinomc_core.data.normalization import Normalization
from dinomc_core.data.oscd import CityPair
from dinomc_core.downstream.change_model import ChangeModel
from dinomc_core.downstream.metrics import (
    add_counts,
    batch_mean_binary_scores,
    binary_counts,
    binary_scores,
    classification_metrics,
    multilabel_metrics,
    precision_recall_curve,
)
from dinomc_core.downstream.runtime import Runtime, evaluation_mode
from dinomc_core.downstream.task_model import ChipClassifier

OFFICIAL_PATCH = 96
"""Patch size of the official OSCD protocol, used only to report its batch-mean scores next to ours."""
OFFICIAL_BATCH = 32


def predict_chips(
    model: ChipClassifier, dataset: Dataset, runtime: Runtime, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``(N, K)`` and targets of every chip of ``dataset``."""
    logits, targets = [], []
    with evaluation_mode(model):
        for x, target in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            with runtime.autocast():
                logits.append(model(x.to(runtime.device)).float().cpu())
            targets.append(target)
    return torch.cat(logits).numpy(), torch.cat(targets).numpy()


def chip_metrics(logits: np.ndarray, targets: np.ndarray, classes: list[str], multilabel: bool) -> dict:
    """Classification metrics (accuracy, per-class P/R/F1, confusion matrix) or multi-label mAP of a whole set."""
    if multilabel:
        return multilabel_metrics(targets, 1.0 / (1.0 + np.exp(-logits)), classes)
    return classification_metrics(targets, logits.argmax(axis=1), classes)


def normalised_tiles(
    image: np.ndarray, tiles: list[tuple[int, int, int, int]], normalization: Normalization
) -> torch.Tensor:
    """A batch of normalised ``(row, col, height, width)`` tiles of a ``(bands, H, W)`` raw image."""
    return torch.stack([
        torch.from_numpy(normalization.apply(image[:, row:row + height, col:col + width].astype(np.float32)))
        for row, col, height, width in tiles
    ])


def predict_change(model: ChangeModel, before: np.ndarray, after: np.ndarray, normalization: Normalization,
                   runtime: Runtime, tile: int) -> np.ndarray:
    """Change probabilities ``(H, W)`` of a whole scene, predicted tile by tile (overlaps averaged).

    Tiles overlap by a quarter so that every pixel away from the scene's border is seen away from a tile's border.
    """
    height, width = before.shape[-2:]
    tile_h, tile_w = min(tile, height), min(tile, width)
    total = np.zeros((height, width), np.float32)
    weight = np.zeros((height, width), np.float32)
    rows = sorted({*range(0, height - tile_h + 1, max(tile_h - tile_h // 4, 1)), height - tile_h})
    cols = sorted({*range(0, width - tile_w + 1, max(tile_w - tile_w // 4, 1)), width - tile_w})
    with evaluation_mode(model):
        for row in rows:
            tiles = [(row, col, tile_h, tile_w) for col in cols]
            first = normalised_tiles(before, tiles, normalization).to(runtime.device)
            second = normalised_tiles(after, tiles, normalization).to(runtime.device)
            with runtime.autocast():
                probabilities = model(first, second).float().sigmoid().cpu().numpy()
            for (r, c, _, _), probability in zip(tiles, probabilities[:, 0]):
                total[r:r + tile_h, c:c + tile_w] += probability
                weight[r:r + tile_h, c:c + tile_w] += 1.0
    return total / weight


def official_patch_counts(change: np.ndarray, predicted: np.ndarray) -> list[dict[str, int]]:
    """Counts per batch of 32 non-overlapping 96 px patches, as the official script scores them (its bias shown)."""
    windows = [
        (slice(row, row + OFFICIAL_PATCH), slice(col, col + OFFICIAL_PATCH))
        for row in range(0, change.shape[0], OFFICIAL_PATCH)
        for col in range(0, change.shape[1], OFFICIAL_PATCH)
    ]
    counts = [binary_counts(change[window], predicted[window]) for window in windows]
    batches = [counts[start:start + OFFICIAL_BATCH] for start in range(0, len(counts), OFFICIAL_BATCH)]
    return [{key: sum(item[key] for item in batch) for key in batch[0]} for batch in batches]


def change_metrics(pairs: list[CityPair], probabilities: list[np.ndarray], threshold: float = 0.5) -> dict:
    """Precision, recall, F1 and IoU of the change class over every pixel of every city, plus per-city scores."""
    total = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    per_city, official_batches = {}, []
    for pair, probability in zip(pairs, probabilities):
        counts = binary_counts(pair.change, probability >= threshold)
        total = add_counts(total, counts)
        per_city[pair.name] = {**binary_scores(counts), **counts}
        official_batches += official_patch_counts(pair.change, probability >= threshold)
    labels = np.concatenate([pair.change.ravel() for pair in pairs])
    scores = np.concatenate([probability.ravel() for probability in probabilities])
    return {
        **binary_scores(total),
        "counts": total,
        "threshold": threshold,
        "change_fraction": float(labels.mean()),
        "per_city": per_city,
        "official_batch_mean": batch_mean_binary_scores(official_batches),
        "pr_curve": precision_recall_curve(labels, scores),
    }

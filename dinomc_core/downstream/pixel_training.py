"""Per-pixel heads on fused features: fit the context projection, extract the labelled pixels' features,
cross-validate the candidate heads over folds of whole shapes and refit the best on every labelled pixel.

Heads: a random forest, DINO's weighted k-NN, a small MLP and logistic regression (a linear layer). ``auto`` keeps
the one with the best balanced accuracy over the held-out shapes of every fold, then trains it again on all
labelled pixels, since with a handful of polygons every one counts; the reported metrics are the held-out ones,
pooled over the folds. Held-out shapes are often all classified right by every head (water against land); ties go
to the head that generalised best from a few squares in our measurements (the order of ``HEADS``, see
docs/results.md): k-NN, whose vote stays near what was drawn; a forest on features with texture and context may
split on whichever one happens to separate the squares (water IoU 74.7 % in one draw of 3, where k-NN kept 91.9);
linear and MLP heads extrapolate far from what was drawn (ties to the MLP, whose maps are nine times faster than
k-NN's, mapped fused water at 82.9 % IoU in one draw with a random encoder, where k-NN mapped 92.2).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import nn

from dinomc_core.data.normalization import Normalization
from dinomc_core.data.pixel_samples import NEVER_HELD_OUT, PixelSamples, balanced_subsample
from dinomc_core.downstream.forest import train_forest_head
from dinomc_core.downstream.knn import build_knn_head
from dinomc_core.downstream.linear import out_of_fold_logits, train_probe
from dinomc_core.downstream.metrics import classification_metrics
from dinomc_core.downstream.pixel_features import FeatureFusion
from dinomc_core.downstream.projection import spread_indices
from dinomc_core.downstream.runtime import Runtime, evaluation_mode
from dinomc_core.downstream.task_model import LinearHead, MlpHead
from dinomc_core.errors import DinoMCError
from dinomc_core.progress import Progress, SilentProgress, check_cancelled

HEADS = ("knn", "forest", "mlp", "logistic")
HEAD_CHOICES = ("auto",) + HEADS
PIXEL_BATCH = 1024
IMAGE_BATCH = 8
PROJECTION_IMAGES = 32
"""Images (windows or chips) whose encoder maps fit the context projection."""
KNN_BANK = 4096
"""Training pixels a k-NN head keeps (balanced): each mapped pixel is compared with all of them."""
MAP_TIME_OVER_MLP = {"knn": 9, "forest": 2}
"""How many times as long as the MLP's these heads' maps take (the shipped encoder's, docs/benchmarks.md)."""


@dataclass(frozen=True)
class PixelHeadOptions:
    """Which head and how it trains."""

    head: str = "auto"
    """A name of ``HEADS``, or ``auto`` to keep the best of them by cross-validation."""
    epochs: int = 60
    lr: float = 1e-2
    knn_k: int = 20
    knn_temperature: float = 0.07
    seed: int = 0


def images_in_batches(samples: PixelSamples, indices: list[int], bands: list[int], normalization: Normalization
                      ) -> Iterator[tuple[list[int], torch.Tensor, np.ndarray]]:
    """Normalised images ``(N, C, h, w)`` of the model's bands, with validity, batched by equal size."""
    by_shape: dict[tuple[int, int], list[tuple[int, np.ndarray, np.ndarray]]] = defaultdict(list)
    for index in indices:
        raw, valid = samples.read_image(index)
        if raw.shape[0] <= max(bands):
            raise DinoMCError(f"an image has {raw.shape[0]} bands but band {max(bands) + 1} is needed")
        normalised = normalization.apply(raw[bands].astype(np.float32))
        normalised[:, ~valid] = 0.0
        by_shape[normalised.shape[-2:]].append((index, normalised, valid))
        if len(by_shape[normalised.shape[-2:]]) == IMAGE_BATCH:
            yield _stack(by_shape.pop(normalised.shape[-2:]))
    for group in by_shape.values():
        yield _stack(group)


def _stack(group: list[tuple[int, np.ndarray, np.ndarray]]) -> tuple[list[int], torch.Tensor, np.ndarray]:
    indices, arrays, valid = zip(*group)
    return list(indices), torch.from_numpy(np.stack(arrays)), np.stack(valid)


def fit_context_projection(fusion: FeatureFusion, encoder: nn.Module, samples: PixelSamples, bands: list[int],
                           normalization: Normalization, runtime: Runtime) -> None:
    """Principal components of each context level, from the encoder's maps of up to 32 of the images."""
    if not fusion.uses_encoder:
        return
    chosen = spread_indices(samples.images, PROJECTION_IMAGES)

    def level_batches() -> Iterator[list[torch.Tensor]]:
        for _, x, _ in images_in_batches(samples, chosen, bands, normalization):
            with runtime.autocast():
                yield fusion.encoder_levels(encoder, x.to(runtime.device))

    with evaluation_mode(encoder):
        fusion.fit_projection(level_batches())


def pixel_features(fusion: FeatureFusion, encoder: nn.Module, samples: PixelSamples, bands: list[int],
                   normalization: Normalization, runtime: Runtime, progress: Progress | None = None
                   ) -> tuple[torch.Tensor, np.ndarray]:
    """Unscaled fused features ``(M, D)`` of every sampled pixel, and whether each pixel was valid (not nodata)."""
    progress = progress or SilentProgress()
    features = torch.zeros(len(samples), fusion.layout.dim)
    valid = np.zeros(len(samples), dtype=bool)
    members = defaultdict(list)
    for position, image in enumerate(samples.image):
        members[int(image)].append(position)
    progress.set_total(samples.images, "pixel features")
    with evaluation_mode(encoder):
        for indices, x, validity in images_in_batches(samples, sorted(members), bands, normalization):
            x = x.to(runtime.device)
            with runtime.autocast():
                maps = fusion.raw(x, fusion.encoder_levels(encoder, x)).float().cpu()
            for slot, image in enumerate(indices):
                positions = np.asarray(members[image])
                rows, cols = samples.row[positions], samples.col[positions]
                features[positions] = maps[slot][:, rows, cols].T
                valid[positions] = validity[slot][rows, cols]
            progress.advance(len(indices))
            check_cancelled(progress)
    return features, valid


def balanced_accuracy(logits: torch.Tensor, targets: torch.Tensor, num_classes: int) -> float:
    """Mean recall over the classes present: an accuracy that a large class cannot dominate."""
    predictions = logits.argmax(dim=1)
    recalls = [float((predictions[targets == index] == index).float().mean())
               for index in range(num_classes) if bool((targets == index).any())]
    return float(np.mean(recalls)) if recalls else 0.0


def train_one_head(name: str, features: torch.Tensor, targets: torch.Tensor, num_classes: int,
                   options: PixelHeadOptions) -> nn.Module:
    """A head of type ``name`` trained on scaled fused features (probes keep their best epoch on these pixels: the
    held-out shapes only ever score heads)."""
    torch.manual_seed(options.seed)
    if name == "forest":
        return train_forest_head(features, targets, num_classes, options.seed)
    if name == "knn":
        bank = torch.from_numpy(balanced_subsample(targets.numpy(), num_classes, np.random.default_rng(options.seed),
                                                   KNN_BANK // num_classes))
        k = min(options.knn_k, len(bank))
        return build_knn_head(features[bank], targets[bank], num_classes, False, k, options.knn_temperature)
    dim = features.shape[1]
    head = LinearHead(dim, num_classes) if name == "logistic" else MlpHead(dim, num_classes)
    head, _ = train_probe(head, features, targets, features, targets, False, epochs=options.epochs, lr=options.lr,
                          batch_size=PIXEL_BATCH, seed=options.seed)
    return head


def select_and_fit_head(features: torch.Tensor, targets: torch.Tensor, fold: torch.Tensor, classes: list[str],
                        options: PixelHeadOptions, progress: Progress | None = None) -> tuple[str, nn.Module, dict]:
    """Cross-validate the candidate heads over the folds (``NEVER_HELD_OUT`` pixels always train), keep the best,
    refit it on all pixels; returns its name, the head and the held-out metrics pooled over the folds (``heads``:
    balanced accuracy of every candidate)."""
    progress = progress or SilentProgress()
    if options.head not in HEAD_CHOICES:
        raise DinoMCError(f"unknown pixel head {options.head!r}; use one of {', '.join(HEAD_CHOICES)}")
    held_out = fold != NEVER_HELD_OUT
    if not bool(held_out.any()):
        raise DinoMCError("no labelled pixel is left for validation; draw two or more shapes per class")
    num_classes = len(classes)
    folds = int(fold.max()) + 1
    candidates = HEADS if options.head == "auto" else (options.head,)
    scores, logits = {}, {}
    for name in candidates:
        progress.log(f"cross-validating a {name} head over {folds} fold(s) of whole shapes")
        fit = partial(train_one_head, name, num_classes=num_classes, options=options)
        logits[name] = out_of_fold_logits(fit, features, targets, fold, num_classes)[held_out]
        scores[name] = balanced_accuracy(logits[name], targets[held_out], num_classes)
    chosen = max(candidates, key=lambda name: (round(scores[name], 3), -candidates.index(name)))
    metrics = classification_metrics(targets[held_out].numpy(), logits[chosen].argmax(dim=1).numpy(), classes)
    metrics.update({"balanced_accuracy": scores[chosen], "heads": scores, "head": chosen, "folds": folds})
    progress.log("held-out balanced accuracy: " + ", ".join(f"{name} {score:.3f}" for name, score in scores.items())
                 + f"; keeping {chosen}, refitted on all labelled pixels")
    if options.head == "auto" and chosen in MAP_TIME_OVER_MLP:
        progress.log(f"{chosen} maps take about {MAP_TIME_OVER_MLP[chosen]} times as long as the MLP's; for large "
                     f"rasters, train the MLP head instead if its held-out score ({scores['mlp']:.3f}) is close enough")
    final = train_one_head(chosen, features, targets, num_classes, options)
    return chosen, final, metrics

"""Whole runs behind ``python -m dinomc_core.finetune``: train a task model, report on validation data, evaluate.

Each training run writes ``model.dinomc`` (encoder, head, classes, bands, normalisation, gsd, tile size),
``metrics.json`` (validation data: a shipped validation split, a fixed random hold-out, or held-out cities) and
pictures. Only the main process writes when several run under ``torchrun``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from dinomc_core.data.labelled import ChipSet, check_every_class_has_samples, normalise_split, relabel
from dinomc_core.data.pixel_samples import NEVER_HELD_OUT, PixelSamples
from dinomc_core.data.normalization import Normalization
from dinomc_core.data.oscd import City, band_names, read_city
from dinomc_core.downstream.change_model import ChangeModel
from dinomc_core.downstream.change_training import predict_cities, train_change_model
from dinomc_core.downstream.chip_heads import ChipHeadChoice, fit_chip_head
from dinomc_core.downstream.evaluation import change_metrics, chip_metrics, predict_chips
from dinomc_core.downstream.features import ChipStatistics, ChipTensors, extract_features, match_bands
from dinomc_core.downstream.finetune import finetune_classifier
from dinomc_core.downstream.pixel_features import GROUPS, FeatureFusion, fused_layout
from dinomc_core.downstream.pixel_training import (
    PixelHeadOptions,
    fit_context_projection,
    pixel_features,
    select_and_fit_head,
)
from dinomc_core.downstream.reports import (
    plot_confusion_matrix,
    plot_precision_recall,
    plot_training_curves,
    write_json,
)
from dinomc_core.downstream.runtime import Runtime
from dinomc_core.downstream.task_model import (
    ChipClassifier,
    LinearHead,
    PixelClassifier,
    PixelHead,
    load_task_model,
    save_task_model,
)
from dinomc_core.errors import DinoMCError
from dinomc_core.models.modelfile import ModelMetadata, load_model
from dinomc_core.progress import Progress, SilentProgress

PROTOCOLS = ("linear", "knn", "full", "pixel")
CHANGE_CLASSES = [{"name": "no change", "color": "#00000000"}, {"name": "change", "color": "#ff0000"}]
MODEL_FILE = "model.dinomc"
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class TrainOptions:
    """Training settings shared by the protocols; the change-only ones start with ``change_``."""

    protocol: str = "linear"
    epochs: int | None = None
    lr: float | None = None
    batch_size: int = 32
    knn_k: int = 20
    knn_temperature: float = 0.07
    seed: int = 0
    change_patch_size: int = 96
    change_patches_per_epoch: int = 512
    change_width: int = 32
    freeze_encoder: bool = True
    pixel_head: str = "auto"
    feature_groups: tuple[str, ...] = GROUPS


def prepare_output(out_dir: str | Path) -> Path:
    """The output folder, created if needed; an existing file there is an error."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DinoMCError(f"--out {out} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def class_entries(chip_set: ChipSet) -> list[dict[str, str]]:
    """Class names with their colours, as model files store them."""
    return [{"name": name, "color": color} for name, color in zip(chip_set.classes, chip_set.colors)]


def task_metadata(encoder: ModelMetadata, task: str, classes: list[dict[str, str]], head: dict,
                  gsd: float | None, tile_size: int, provenance: dict) -> ModelMetadata:
    """The encoder's metadata (architecture, bands, normalisation) turned into a task model's."""
    return replace(
        encoder, task=task, classes=classes, head=head, gsd=gsd if gsd is not None else encoder.gsd,
        tile_size=tile_size, provenance={**encoder.provenance, "finetune": provenance},
    )


def encoder_for_data(
    encoder_path: str | Path, available: list[str], names_known: bool
) -> tuple[torch.nn.Module, list[int], Normalization]:
    """The pretrained encoder, the data's band positions in its band order, and its normalisation."""
    encoder = load_model(encoder_path)
    bands = match_bands(available, names_known, encoder.metadata.bands)
    return encoder, bands, Normalization.from_dict(encoder.metadata.normalization)


def check_chip_task(chips: ChipSet, multilabel: bool, protocol: str) -> None:
    """The command must match the data (single- or multi-label) and name a known protocol."""
    if chips.multilabel != multilabel:
        kind, command = ("multi-label", "multilabel") if chips.multilabel else ("single-label", "classify")
        raise DinoMCError(f"this data set is {kind}; use the {command} command")
    if protocol not in PROTOCOLS:
        raise DinoMCError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    if protocol == "pixel" and multilabel:
        raise DinoMCError("per-pixel heads learn one class per pixel; use --protocol linear, knn or full for multi-label data")


def head_on_frozen_features(
    encoder: torch.nn.Module, statistics: ChipStatistics, train_set: ChipTensors, val_set: ChipTensors,
    multilabel: bool, options: TrainOptions, runtime: Runtime,
) -> ChipHeadChoice:
    """A k-NN head, or a logistic regression whose penalty is cross-validated on the training chips, over the fused
    chip features of the frozen encoder (``statistics``), each statistic scaled to count the same, with or without
    the encoder's statistics as they score out of fold on the training chips; the validation chips only score it."""
    num_classes = len(train_set.chip_set.classes)
    train_features, train_targets = extract_features(encoder, train_set, runtime, statistics=statistics)
    val = extract_features(encoder, val_set, runtime, statistics=statistics) if options.protocol != "knn" else None
    return fit_chip_head(train_features, train_targets, statistics, num_classes, multilabel, options.protocol,
                         options.seed, options.knn_k, options.knn_temperature, val)


def train_chip_classifier(encoder_path: str | Path, chips: ChipSet, multilabel: bool, out_dir: str | Path,
                          options: TrainOptions, runtime: Runtime, progress: Progress | None = None) -> dict:
    """Linear probe, k-NN or full fine-tuning on the train split, scored on the validation split."""
    progress = progress or SilentProgress()
    check_chip_task(chips, multilabel, options.protocol)
    out = prepare_output(out_dir)
    train, val = chips.subset("train"), chips.subset("val")
    check_every_class_has_samples(train)
    encoder, bands, normalization = encoder_for_data(encoder_path, chips.band_names, chips.names_known)
    encoder.to(runtime.device)
    train_set, val_set = ChipTensors(train, bands, normalization), ChipTensors(val, bands, normalization)
    if options.protocol == "full":
        head = LinearHead(encoder.feature_dim, len(chips.classes))
        model = ChipClassifier(encoder.train(), head, multilabel, chips.chip_size)
        history = finetune_classifier(
            model, ChipTensors(train, bands, normalization, augment=True), val_set, runtime,
            epochs=options.epochs or 30, lr=options.lr or 1e-4, batch_size=options.batch_size, seed=options.seed,
            progress=progress,
        )
    else:
        progress.log(f"extracting features of {len(train)} training and {len(val)} validation chips")
        statistics = ChipStatistics.for_encoder(encoder, len(bands), chips.chip_size)
        choice = head_on_frozen_features(encoder, statistics, train_set, val_set, multilabel, options, runtime)
        progress.log("out-of-fold score on the training chips: " + ", ".join(
            f"{name} {score:.3f}" for name, score in choice.scores.items()) + f"; keeping {choice.features}")
        model = ChipClassifier(encoder, choice.head.to(runtime.device), multilabel, chips.chip_size, statistics)
        history, chip_features = choice.history, choice.report()
    if not runtime.is_main:
        return {}
    logits, targets = predict_chips(model, val_set, runtime)
    metrics = {"task": "multilabel" if multilabel else "classification", "protocol": options.protocol, "split": "val",
               "samples": len(val), "train_samples": len(train),
               **chip_metrics(logits, targets, chips.classes, multilabel), "history": history}
    if options.protocol != "full":
        metrics["chip_features"] = chip_features
    save_chip_run(out, model, chips, metrics, encoder_path)
    return metrics


def save_chip_run(out: Path, model: ChipClassifier, chips: ChipSet, metrics: dict, encoder_path: str | Path) -> None:
    """The task model file (with what the run was trained and scored on) and the report."""
    scores = {key: metrics[key] for key in ("accuracy", "map_micro", "map_macro") if key in metrics}
    provenance = {"encoder_file": Path(encoder_path).name, "protocol": metrics["protocol"],
                  "train_samples": metrics["train_samples"], "validation": scores}
    head = {**model.describe(), "protocol": metrics["protocol"]}
    metadata = task_metadata(model.encoder.metadata, metrics["task"], class_entries(chips), head, chips.gsd,
                             chips.chip_size, provenance)
    save_task_model(out / MODEL_FILE, model.cpu(), metadata)
    write_chip_report(out, metrics, metrics["history"])


def write_chip_report(out: Path, metrics: dict, history: list[dict[str, float]]) -> None:
    """``metrics.json``, training curves (when there was training) and the confusion matrix (single-label)."""
    write_json(out / METRICS_FILE, metrics)
    if history:
        plot_training_curves(history, out / "training_curves.png")
    if "confusion_matrix" in metrics:
        plot_confusion_matrix(metrics["confusion_matrix"], metrics["classes"], out / "confusion_matrix.png")


def train_pixel_classifier(encoder_path: str | Path, samples: PixelSamples, out_dir: str | Path, options: TrainOptions,
                           runtime: Runtime, window_size: int = 256, progress: Progress | None = None) -> dict:
    """A per-pixel head on fused features (bands, indices, encoder context), selected on held-out shapes."""
    progress = progress or SilentProgress()
    out = prepare_output(out_dir)
    for note in samples.notes:
        progress.log(note)
    encoder, bands, normalization = encoder_for_data(encoder_path, samples.band_names, samples.names_known)
    encoder.to(runtime.device)
    layout = fused_layout(encoder, encoder.metadata.bands, options.feature_groups)
    fusion = FeatureFusion(layout, normalization, encoder.metadata.bands)
    shapes = len(np.unique(samples.shape))
    progress.log(f"{len(samples)} labelled pixels in {shapes} shapes and {samples.images} image(s); features: "
                 + ", ".join(f"{name} {size}" for name, size in layout.group_sizes().items()))
    fit_context_projection(fusion, encoder, samples, bands, normalization, runtime)
    features, valid = pixel_features(fusion, encoder, samples, bands, normalization, runtime, progress)
    targets = torch.from_numpy(samples.target[valid]).long()
    fold = torch.from_numpy(samples.fold[valid])
    fusion.scaler.fit(features[valid], list(layout.group_sizes().values()))  # no label is used: every pixel counts
    scaled = fusion.scaler(features[valid])
    head_options = PixelHeadOptions(head=options.pixel_head, epochs=options.epochs or 60, lr=options.lr or 1e-2,
                                    knn_k=options.knn_k, knn_temperature=options.knn_temperature, seed=options.seed)
    chosen, classifier, scores = select_and_fit_head(scaled, targets, fold, samples.classes, head_options, progress)
    if not runtime.is_main:
        return {}
    model = PixelClassifier(encoder.cpu(), PixelHead(fusion, classifier), window_size)
    metrics = {"task": "classification", "protocol": "pixel",
               "split": f"cross-validation over {scores['folds']} folds of whole shapes",
               "samples": int((fold != NEVER_HELD_OUT).sum()), "train_samples": len(fold),
               "shapes": {"train": shapes, "val": int(len(np.unique(samples.shape[samples.held_out])))},
               "features": layout.to_dict(), "notes": samples.notes, **scores, "history": []}
    provenance = {"encoder_file": Path(encoder_path).name, "protocol": "pixel", "head": chosen,
                  "train_samples": metrics["train_samples"],
                  "validation": {key: metrics[key] for key in ("accuracy", "balanced_accuracy")}}
    head = {**model.describe(), "protocol": "pixel"}
    classes = [{"name": name, "color": color} for name, color in zip(samples.classes, samples.colors)]
    metadata = task_metadata(encoder.metadata, "classification", classes, head, samples.gsd, window_size, provenance)
    save_task_model(out / MODEL_FILE, model, metadata)
    write_chip_report(out, metrics, [])
    return metrics


def cities_of(cities: list[City], split: str) -> list[City]:
    """The cities of one split; none is an error."""
    chosen = [city for city in cities if city.split == split]
    if not chosen:
        raise DinoMCError(f"no city is in the {split!r} split; check train.txt, test.txt and --val-cities")
    return chosen


def cities_to_evaluate(cities: list[City], split: str | None) -> list[City]:
    """The cities of ``split`` (their labels are required), or every city that has labels."""
    if split is not None:
        return cities_of(cities, normalise_split(split))
    labelled = [city for city in cities if city.label is not None]
    if not labelled:
        raise DinoMCError("no city has change labels to evaluate against")
    return labelled


def train_change(encoder_path: str | Path, cities: list[City], out_dir: str | Path, options: TrainOptions,
                 runtime: Runtime, progress: Progress | None = None) -> dict:
    """Train the Siamese change model on the training cities, select and score it on the validation cities."""
    progress = progress or SilentProgress()
    out = prepare_output(out_dir)
    train_cities, val_cities = cities_of(cities, "train"), cities_of(cities, "val")
    encoder, _, normalization = encoder_for_data(encoder_path, band_names(train_cities[0]), True)
    progress.log(f"reading {len(train_cities)} training and {len(val_cities)} validation cities")
    train_pairs = [read_city(city, encoder.metadata.bands) for city in train_cities]
    val_pairs = [read_city(city, encoder.metadata.bands) for city in val_cities]
    model = ChangeModel(encoder, options.change_width, options.freeze_encoder)
    history = train_change_model(
        model, train_pairs, val_pairs, normalization, runtime, epochs=options.epochs or 20,
        patches_per_epoch=options.change_patches_per_epoch, patch_size=options.change_patch_size,
        batch_size=options.batch_size, lr=options.lr or 1e-3, seed=options.seed, progress=progress,
    )
    if not runtime.is_main:
        return {}
    probabilities = predict_cities(model, val_pairs, normalization, runtime, options.change_patch_size)
    metrics = {"task": "change", "split": "val", "cities": [city.name for city in val_cities],
               "train_cities": [city.name for city in train_cities], **change_metrics(val_pairs, probabilities),
               "history": history}
    provenance = {"encoder_file": Path(encoder_path).name, "train_cities": metrics["train_cities"],
                  "validation_cities": metrics["cities"],
                  "validation": {key: metrics[key] for key in ("precision", "recall", "f1", "iou")}}
    metadata = task_metadata(encoder.metadata, "change", CHANGE_CLASSES, model.describe(), 10.0,
                             options.change_patch_size, provenance)
    save_task_model(out / MODEL_FILE, model.cpu(), metadata)
    write_change_report(out, metrics, history)
    return metrics


def write_change_report(out: Path, metrics: dict, history: list[dict[str, float]]) -> None:
    """``metrics.json``, training curves and the precision-recall curve of the change class."""
    write_json(out / METRICS_FILE, metrics)
    if history:
        plot_training_curves(history, out / "training_curves.png")
    plot_precision_recall(metrics["pr_curve"], out / "precision_recall.png", metrics)


def evaluate_chips(model_path: str | Path, chips: ChipSet, out_dir: str | Path, runtime: Runtime) -> dict:
    """Metrics of a classification or multi-label model file on labelled chips."""
    model = load_task_model(model_path).to(runtime.device)
    metadata = model.metadata
    if metadata.task not in ("classification", "multilabel"):
        raise DinoMCError(f"{Path(model_path).name} is a {metadata.task} model; evaluate it on change data")
    chips = relabel(chips, metadata.class_names)
    bands = match_bands(chips.band_names, chips.names_known, metadata.bands)
    dataset = ChipTensors(chips, bands, Normalization.from_dict(metadata.normalization))
    logits, targets = predict_chips(model, dataset, runtime)
    metrics = {"task": metadata.task, "samples": len(chips),
               **chip_metrics(logits, targets, chips.classes, model.multilabel)}
    write_chip_report(prepare_output(out_dir), metrics, [])
    return metrics


def evaluate_change(model_path: str | Path, cities: list[City], out_dir: str | Path, runtime: Runtime) -> dict:
    """Metrics of a change model file on city pairs."""
    model = load_task_model(model_path).to(runtime.device)
    metadata = model.metadata
    if metadata.task != "change":
        raise DinoMCError(f"{Path(model_path).name} is a {metadata.task} model; evaluate it on chips, not city pairs")
    match_bands(band_names(cities[0]), True, metadata.bands)
    pairs = [read_city(city, metadata.bands) for city in cities]
    normalization = Normalization.from_dict(metadata.normalization)
    probabilities = predict_cities(model, pairs, normalization, runtime, metadata.tile_size)
    metrics = {"task": "change", "cities": [city.name for city in cities], **change_metrics(pairs, probabilities)}
    write_change_report(prepare_output(out_dir), metrics, [])
    return metrics


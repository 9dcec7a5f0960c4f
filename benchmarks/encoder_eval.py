"""Cross-validated k-NN and linear-probe accuracy of encoders on every EuroSAT chip, against two references.

With 2 validation chips per class one chip is 5 points; cross-validation over all 80 chips (stratified, repeated
with several shuffles) uses every chip once per repeat as held-out data. For each encoder file, and for the
references, the script reports:

* **k-NN**: DINO's weighted vote (k = 20, T = 0.07) on the L2-normalised chip features (the project's head);
* **linear probe**: the project's logistic regression, its L2 penalty chosen by cross-validation inside the
  training folds, never on the held-out fold;
* **encoder**: each encoder's chip feature alone (the mean of its dense features);
* **fused**: the first encoder's fused chip feature (``dinomc_core.downstream.features.ChipStatistics``: band and
  pyramid means, standard deviations where a chip spans 8 cells, the bands' texture), what ``finetune classify``
  trains its k-NN and linear heads on;
* **chosen**: the same feature with or without the encoder's statistics, as ``finetune classify`` keeps them
  (``dinomc_core.downstream.chip_heads``: whichever scores better out of fold on the training fold's chips);
* **random encoder**: the same fused chip feature with the first encoder's architecture, bands and normalisation
  but random weights (seed 0): what pretraining adds;
* **band statistics**: per-band mean and standard deviation of each chip (in the encoder's bands), the classic
  baseline;
* **band statistics and texture**: the same and each band's mean absolute neighbour difference, the fused chip
  feature without the encoder: what the encoder adds to it.
* **levels** (``--levels``): each level of the first encoder's pyramid alone (its chip mean, and its standard
  deviation where the chip spans 8 cells), and the same level of the random twin: which level pretraining taught.

Every feature group is standardised on the training fold and weighted 1/sqrt(width), as ``finetune classify`` does.

    python benchmarks/encoder_eval.py runs/encoder/encoder.dinomc --data ../shared/data/eurosat_ms
    python benchmarks/encoder_eval.py a.dinomc b.dinomc --json eval.json --markdown eval.md
    python benchmarks/encoder_eval.py sentinel2-encoder --repeats 5 --levels
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from dinomc_core.atomic import atomic_path, write_json_atomically
from dinomc_core.data.eurosat import load_eurosat
from dinomc_core.data.labelled import ChipSet
from dinomc_core.data.normalization import Normalization
from dinomc_core.downstream.chip_heads import fit_chip_head
from dinomc_core.downstream.features import ChipStatistics, ChipTensors, extract_features, match_bands
from dinomc_core.downstream.pixel_features import FeatureScaler
from dinomc_core.downstream.knn import build_knn_head
from dinomc_core.downstream.linear import stratified_folds, train_linear_probe
from dinomc_core.downstream.task_model import ScaledHead
from dinomc_core.downstream.runtime import setup_runtime
from dinomc_core.errors import run_cli
from dinomc_core.models import create_backbone, load_model
from dinomc_core.models.modelfile import ModelMetadata

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "eurosat_ms"
RANDOM_SEED = 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoders", nargs="+", type=Path, help="encoder model files (or shipped model names)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="EuroSAT (EuroSATallBands layout) folder")
    parser.add_argument("--folds", type=int, default=5, help="stratified folds (default: 5)")
    parser.add_argument("--repeats", type=int, default=3, help="cross-validations with other shuffles (default: 3)")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--markdown", type=Path, help="write the table here as markdown")
    parser.add_argument("--figure", type=Path, help="draw the accuracies as bars into this PNG")
    parser.add_argument("--levels", action="store_true",
                        help="also score each level of the first encoder's pyramid alone (its chip mean and std), "
                             "and the same level of the random twin: where pretraining learned something")
    parser.add_argument("--provenance", type=Path,
                        help="write the first encoder's figures and the references' as a model file's provenance "
                             "(JSON, for python -m dinomc_core.models ship --provenance)")
    return parser


HeadFitter = Callable[[torch.Tensor, torch.Tensor, int], dict[str, torch.nn.Module]]
"""Trains the k-NN and the linear head on training chips' features and targets (the int: a seed)."""


def cross_validate(features: torch.Tensor, targets: torch.Tensor, fit: HeadFitter, folds: int, repeats: int
                   ) -> dict[str, dict[str, float]]:
    """Mean and spread over repeats of the held-out k-NN and linear-probe accuracy (every chip held out once)."""
    scores: dict[str, list[float]] = {"knn": [], "linear": []}
    for repeat in range(repeats):
        assignment = stratified_folds(targets, False, folds, seed=repeat)
        correct = {"knn": 0, "linear": 0}
        for fold in range(folds):
            train, held_out = assignment != fold, assignment == fold
            heads = fit(features[train], targets[train], repeat)
            with torch.no_grad():
                for protocol, head in heads.items():
                    correct[protocol] += int((head(features[held_out]).argmax(1) == targets[held_out]).sum())
        for protocol in scores:
            scores[protocol].append(100.0 * correct[protocol] / len(targets))
    return {protocol: {"mean": float(np.mean(values)), "std": float(np.std(values))} for protocol, values in scores.items()}


def fixed_groups(group_sizes: list[int], num_classes: int) -> HeadFitter:
    """The heads of ``finetune classify`` on every feature: each group scaled on the training fold to count the
    same."""
    def fit(features: torch.Tensor, targets: torch.Tensor, seed: int) -> dict[str, torch.nn.Module]:
        scaler = FeatureScaler(features.shape[1])
        scaler.fit(features, group_sizes)
        scaled = scaler(features)
        linear, _ = train_linear_probe(scaled, targets, scaled, targets, num_classes, False, seed=seed)
        return {"knn": ScaledHead(scaler, build_knn_head(scaled, targets, num_classes, multilabel=False), group_sizes),
                "linear": ScaledHead(scaler, linear, group_sizes)}
    return fit


def chosen_features(statistics: ChipStatistics, num_classes: int) -> HeadFitter:
    """The heads of ``finetune classify`` as it trains them: with or without the encoder's statistics, as they score
    out of fold on the training fold's chips."""
    def fit(features: torch.Tensor, targets: torch.Tensor, seed: int) -> dict[str, torch.nn.Module]:
        return {protocol: fit_chip_head(features, targets, statistics, num_classes, False, protocol, seed).head
                for protocol in ("knn", "linear")}
    return fit


def chip_tensors(chips: ChipSet, metadata: ModelMetadata) -> ChipTensors:
    """Every chip in the encoder's bands and normalisation."""
    bands = match_bands(chips.band_names, chips.names_known, metadata.bands)
    return ChipTensors(chips, bands, Normalization.from_dict(metadata.normalization))


def encoder_features(
    encoder: torch.nn.Module, chips: ChipSet, statistics: ChipStatistics | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Chip features of every chip: the mean of the dense features, or the fused chip feature with ``statistics``."""
    dataset = chip_tensors(chips, encoder.metadata)
    return extract_features(encoder, dataset, setup_runtime("cpu"), statistics=statistics)


def random_twin(metadata: ModelMetadata) -> torch.nn.Module:
    """The architecture, bands and normalisation of ``metadata`` with random weights (seed 0)."""
    torch.manual_seed(RANDOM_SEED)
    backbone = create_backbone(metadata.arch, metadata.in_chans)
    backbone.metadata = metadata
    return backbone.eval()


def level_columns(statistics: ChipStatistics) -> list[tuple[int, slice]]:
    """Each encoder level's stride and its columns (chip mean, then std where kept) in the fused chip feature."""
    columns, start = [], sum(statistics.widths[: statistics.band_groups])
    for channels, stride, std in list(zip(statistics.channels, statistics.strides, statistics.with_std))[1:]:
        width = channels * (1 + std)
        columns.append((stride, slice(start, start + width)))
        start += width
    return columns


def evaluate(encoders: list[Path], data: Path, folds: int, repeats: int, levels: bool = False) -> list[dict]:
    """One result row per encoder (the mean of its dense features), then for the first: its fused chip feature (the
    feature of ``finetune classify``'s frozen heads) with every group and as that command chooses them, the fused
    feature of its random twin, and the band statistics without and with their texture; with ``levels``, each
    pyramid level of the first encoder and of its twin alone."""
    chips = load_eurosat(data)
    classes = len(chips.classes)

    def row(name: str, kind: str, features: torch.Tensor, targets: torch.Tensor, group_sizes: list[int],
            fit: HeadFitter | None = None) -> dict:
        fit = fit or fixed_groups(group_sizes, classes)
        return {"name": name, "kind": kind, **cross_validate(features, targets, fit, folds, repeats)}

    rows = []
    for path in encoders:
        encoder = load_model(path)
        rows.append(row(str(path), "encoder", *encoder_features(encoder, chips), [encoder.feature_dim]))
    first = load_model(encoders[0])
    statistics = ChipStatistics.for_encoder(first, len(first.metadata.bands), chips.chip_size)
    fused, targets = encoder_features(first, chips, statistics)
    rows.append(row(f"{encoders[0]}, fused chip feature", "fused", fused, targets, statistics.group_sizes))
    rows.append(row(f"{encoders[0]}, fused chip feature, encoder kept or dropped on the training folds "
                    "(finetune classify)", "chosen", fused, targets, statistics.group_sizes,
                    chosen_features(statistics, classes)))
    twin_fused = encoder_features(random_twin(first.metadata), chips, statistics)[0]
    rows.append(row(f"random {first.metadata.arch}, fused chip feature", "random", twin_fused, targets,
                    statistics.group_sizes))
    for stride, columns in level_columns(statistics) if levels else []:
        for name, features in ((str(encoders[0]), fused), (f"random {first.metadata.arch}", twin_fused)):
            rows.append(row(f"{name}, level of stride {stride} px alone", "level", features[:, columns].contiguous(),
                            targets, [columns.stop - columns.start]))
    bands = statistics.channels[0]
    rows.append(row(f"band mean and std ({bands} bands)", "band_statistics", fused[:, : 2 * bands], targets,
                    [bands, bands]))
    rows.append(row(f"band mean, std and texture ({bands} bands)", "band_texture", fused[:, : 3 * bands], targets,
                    [bands] * 3))
    return rows


def markdown_table(rows: list[dict], chips: int, folds: int, repeats: int) -> str:
    """The results as a markdown table (accuracy in %, mean +- spread over the repeats)."""
    lines = [
        f"EuroSAT, {chips} chips, {folds}-fold stratified cross-validation x {repeats} shuffles (accuracy %, "
        "mean +- std over shuffles)",
        "",
        "| features | k-NN (k=20, T=0.07) | linear probe |",
        "|---|---|---|",
    ]
    for row in rows:
        knn, linear = row["knn"], row["linear"]
        lines.append(f"| {row['name']} | {knn['mean']:.1f} +- {knn['std']:.1f} | {linear['mean']:.1f} +- {linear['std']:.1f} |")
    return "\n".join(lines) + "\n"


def short_label(row: dict) -> str:
    """A bar's label: the run folder (or shipped name) of an encoder, the kind of a reference."""
    if row["kind"] == "encoder":
        path = Path(row["name"])
        return path.parent.name or path.stem
    labels = {"fused": "fused chip\nfeature", "random": "random twin,\nfused", "band_statistics": "band mean\nand std",
              "band_texture": "band mean, std\nand texture", "chosen": "fused or\nbands, chosen"}
    return labels.get(row["kind"], row["name"])


def draw_figure(rows: list[dict], path: Path) -> None:
    """Grouped bars (k-NN, linear probe) with the spread over shuffles, one group per row."""
    from dinomc_core.plotting import Figure

    figure = Figure(figsize=(7, 3.5))
    axes = figure.add_subplot()
    positions = np.arange(len(rows))
    for offset, protocol, label in ((-0.2, "knn", "k-NN"), (0.2, "linear", "linear probe")):
        axes.bar(positions + offset, [row[protocol]["mean"] for row in rows], 0.4, label=label,
                 yerr=[row[protocol]["std"] for row in rows], capsize=3)
    axes.set_xticks(positions, [short_label(row) for row in rows], fontsize=8)
    axes.set_ylabel("EuroSAT CV accuracy (%)")
    axes.set_ylim(0, 100)
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)


def validation_facts(rows: list[dict], chips: int, folds: int, repeats: int) -> dict:
    """The first encoder's cross-validated accuracies and the references', as flat provenance entries."""
    prefix = {"encoder": "", "fused": "fused_", "random": "random_encoder_fused_",
              "band_statistics": "band_statistics_", "band_texture": "band_texture_", "chosen": "chosen_"}
    facts: dict = {"protocol": f"EuroSAT {chips} chips, {folds}-fold stratified CV x {repeats}, accuracy %; k-NN "
                               "k=20 T=0.07 and L2-regularised logistic regression (penalty cross-validated on the training folds), "
                               "feature groups standardised and weighted 1/sqrt(width); fused: band statistics and "
                               "texture and the encoder's pyramid statistics, the encoder's weighing as one group "
                               "(ChipStatistics); chosen: the encoder's kept or dropped out of fold on the training "
                               "folds (finetune classify)"}
    for row in [rows[0], *(row for row in rows if row["kind"] in prefix and row["kind"] != "encoder")]:
        for protocol in ("knn", "linear"):
            facts[f"{prefix[row['kind']]}eurosat_cv_{protocol}"] = round(row[protocol]["mean"], 1)
    return {"validation": facts}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rows = evaluate(args.encoders, args.data, args.folds, args.repeats, args.levels)
    chips = len(load_eurosat(args.data))
    table = markdown_table(rows, chips, args.folds, args.repeats)
    print(table)
    if args.markdown:
        with atomic_path(args.markdown) as temporary:
            Path(temporary).write_text(table, encoding="utf-8")
    if args.json:
        write_json_atomically(args.json, {"folds": args.folds, "repeats": args.repeats, "rows": rows})
    if args.figure:
        draw_figure(rows, args.figure)
    if args.provenance:
        write_json_atomically(args.provenance, validation_facts(rows, chips, args.folds, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

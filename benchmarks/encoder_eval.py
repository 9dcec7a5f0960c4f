"""Cross-validated k-NN and linear-probe accuracy of encoders on every EuroSAT chip, against two references.

With 2 validation chips per class one chip is 5 points; cross-validation over all 80 chips (stratified, repeated
with several shuffles) uses every chip once per repeat as held-out data. For each encoder file, and for the
references, the script reports:

* **k-NN**: DINO's weighted vote (k = 20, T = 0.07) on the L2-normalised chip features (the project's head);
* **linear probe**: the project's logistic regression, its L2 penalty chosen by cross-validation inside the
  training folds, never on the held-out fold;
* **encoder**: each encoder's chip feature alone (the mean of its dense features);
* **fused**: the first encoder's fused chip feature (``dinomc_core.downstream.features.ChipStatistics``: band and
  pyramid means, and standard deviations where a chip spans 8 cells), what ``finetune classify`` trains its k-NN and
  linear heads on;
* **random encoder**: the same fused chip feature with the first encoder's architecture, bands and normalisation
  but random weights (seed 0): what pretraining adds;
* **band statistics**: per-band mean and standard deviation of each chip (in the encoder's bands).

Every feature group is standardised on the training fold and weighted 1/sqrt(width), as ``finetune classify`` does.

    python benchmarks/encoder_eval.py runs/encoder/encoder.dinomc --data ../shared/data/eurosat_ms
    python benchmarks/encoder_eval.py a.dinomc b.dinomc --json eval.json --markdown eval.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from dinomc_core.atomic import atomic_path, write_json_atomically
from dinomc_core.data.eurosat import load_eurosat
from dinomc_core.data.labelled import ChipSet
from dinomc_core.data.normalization import Normalization
from dinomc_core.downstream.features import ChipStatistics, ChipTensors, extract_features, match_bands
from dinomc_core.downstream.pixel_features import FeatureScaler
from dinomc_core.downstream.knn import build_knn_head
from dinomc_core.downstream.linear import stratified_folds, train_linear_probe
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
    parser.add_argument("--provenance", type=Path,
                        help="write the first encoder's figures and the references' as a model file's provenance "
                             "(JSON, for python -m dinomc_core.models ship --provenance)")
    return parser


def cross_validate(
    features: torch.Tensor, targets: torch.Tensor, group_sizes: list[int], num_classes: int, folds: int, repeats: int
) -> dict[str, dict[str, float]]:
    """Mean and spread over repeats of the held-out k-NN and linear-probe accuracy (every chip held out once), with
    the heads of ``finetune classify``: each group of features scaled on the training fold to count the same."""
    scores: dict[str, list[float]] = {"knn": [], "linear": []}
    for repeat in range(repeats):
        assignment = stratified_folds(targets, False, folds, seed=repeat)
        correct = {"knn": 0, "linear": 0}
        for fold in range(folds):
            train, held_out = assignment != fold, assignment == fold
            scaler = FeatureScaler(features.shape[1])
            scaler.fit(features[train], group_sizes)
            train_x, held_x = scaler(features[train]), scaler(features[held_out])
            knn = build_knn_head(train_x, targets[train], num_classes, multilabel=False)
            linear, _ = train_linear_probe(train_x, targets[train], train_x, targets[train], num_classes, False,
                                           seed=repeat)
            with torch.no_grad():
                correct["knn"] += int((knn(held_x).argmax(1) == targets[held_out]).sum())
                correct["linear"] += int((linear(held_x).argmax(1) == targets[held_out]).sum())
        for protocol in scores:
            scores[protocol].append(100.0 * correct[protocol] / len(targets))
    return {protocol: {"mean": float(np.mean(values)), "std": float(np.std(values))} for protocol, values in scores.items()}


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


def evaluate(encoders: list[Path], data: Path, folds: int, repeats: int) -> list[dict]:
    """One result row per encoder (the mean of its dense features), then for the first: its fused chip feature (the
    feature of ``finetune classify``'s frozen heads), the same for its random twin, and the band statistics alone."""
    chips = load_eurosat(data)
    classes = len(chips.classes)

    def row(name: str, kind: str, features: torch.Tensor, targets: torch.Tensor, group_sizes: list[int]) -> dict:
        return {"name": name, "kind": kind, **cross_validate(features, targets, group_sizes, classes, folds, repeats)}

    rows = []
    for path in encoders:
        encoder = load_model(path)
        rows.append(row(str(path), "encoder", *encoder_features(encoder, chips), [encoder.feature_dim]))
    first = load_model(encoders[0])
    statistics = ChipStatistics.for_encoder(first, len(first.metadata.bands), chips.chip_size)
    fused, targets = encoder_features(first, chips, statistics)
    rows.append(row(f"{encoders[0]}, fused chip feature", "fused", fused, targets, statistics.group_sizes))
    twin = random_twin(first.metadata)
    rows.append(row(f"random {first.metadata.arch}, fused chip feature", "random",
                    encoder_features(twin, chips, statistics)[0], targets, statistics.group_sizes))
    bands = statistics.channels[0]
    rows.append(row(f"band mean and std ({bands} bands)", "band_statistics", fused[:, : 2 * bands], targets,
                    [bands, bands]))
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
    labels = {"fused": "fused chip\nfeature", "random": "random twin,\nfused", "band_statistics": "band mean\nand std"}
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
              "band_statistics": "band_statistics_"}
    facts: dict = {"protocol": f"EuroSAT {chips} chips, {folds}-fold stratified CV x {repeats}, accuracy %; k-NN "
                               "k=20 T=0.07 and L2-regularised logistic regression (penalty cross-validated on the training folds), "
                               "feature groups standardised and weighted 1/sqrt(width); fused: band and pyramid "
                               "statistics (ChipStatistics)"}
    for row in [rows[0], *rows[-3:]]:
        for protocol in ("knn", "linear"):
            facts[f"{prefix[row['kind']]}eurosat_cv_{protocol}"] = round(row[protocol]["mean"], 1)
    return {"validation": facts}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rows = evaluate(args.encoders, args.data, args.folds, args.repeats)
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

"""Heads on the fused chip feature: a k-NN vote or a logistic regression, with the encoder's statistics or without.

On few labelled chips the encoder's statistics can blur what the bands' spectrum and texture separate (on the 80
EuroSAT chips the shipped encoder costs the k-NN vote 7 points, docs/results.md), and a better encoder may add to
them. So both feature sets are tried and the one that scores better out of fold on the training chips is kept,
ties going to the encoder. Dropping the encoder means weighting its statistics 0: the model file and the maps stay
those of a fused chip classifier.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from dinomc_core.downstream.features import ChipStatistics
from dinomc_core.downstream.knn import DEFAULT_K, DEFAULT_TEMPERATURE, build_knn_head
from dinomc_core.downstream.linear import out_of_fold_score, penalty_fold_count, train_linear_probe
from dinomc_core.downstream.pixel_features import FeatureScaler
from dinomc_core.downstream.task_model import ScaledHead

FEATURE_SETS = ("fused", "bands")
"""``fused``: the bands' statistics and the encoder's; ``bands``: the bands' statistics alone."""


@dataclass
class ChipHeadChoice:
    """The head kept, the feature set it sees, each set's out-of-fold score and the kept head's training history."""

    head: ScaledHead
    features: str
    scores: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)

    def report(self) -> dict:
        return {"chosen": self.features, "out_of_fold_scores": self.scores}


def fit_chip_head(
    features: torch.Tensor, targets: torch.Tensor, statistics: ChipStatistics, num_classes: int, multilabel: bool,
    protocol: str, seed: int = 0, knn_k: int = DEFAULT_K, knn_temperature: float = DEFAULT_TEMPERATURE,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> ChipHeadChoice:
    """A ``knn`` or ``linear`` head on fused chip features ``(M, statistics.dim)``, on the feature set that scores
    better out of fold (accuracy, or micro mAP for multi-label data). ``val`` (features, targets) is only scored, for
    the linear probe's history."""
    band_groups, groups = statistics.band_groups, len(statistics.group_sizes)
    folds = penalty_fold_count(targets, multilabel)

    def fit_knn(train_x: torch.Tensor, train_y: torch.Tensor) -> torch.nn.Module:
        return build_knn_head(train_x, train_y, num_classes, multilabel, knn_k, knn_temperature)

    candidates: dict[str, ChipHeadChoice] = {}
    for name in FEATURE_SETS if groups > band_groups else FEATURE_SETS[:1]:
        scaler = FeatureScaler(features.shape[1])
        encoder_weight = float(name == "fused")
        scaler.fit(features, statistics.group_sizes, [1.0] * band_groups + [encoder_weight] * (groups - band_groups))
        scaled = scaler(features)
        if protocol == "knn":
            classifier, history = fit_knn(scaled, targets), []
            score = (out_of_fold_score(fit_knn, scaled, targets, num_classes, multilabel, folds, seed)
                     if folds >= 2 else 0.0)
        else:
            val_x, val_y = (scaler(val[0]), val[1]) if val is not None else (scaled, targets)
            classifier, history = train_linear_probe(scaled, targets, val_x, val_y, num_classes, multilabel, seed=seed)
            score = max((entry.get("cv_score", 0.0) for entry in history), default=0.0)
        candidates[name] = ChipHeadChoice(ScaledHead(scaler, classifier, statistics.group_sizes), name, {name: score},
                                          history)
    scores = {name: candidate.scores[name] for name, candidate in candidates.items()}
    kept = candidates[max(candidates, key=lambda name: (scores[name], name == "fused"))]
    kept.scores = scores
    return kept

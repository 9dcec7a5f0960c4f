"""Training the Siamese change model on city pairs, selected on held-out validation cities.

Change covers 0.3 to 3.8 % of OSCD pixels, so uniformly drawn patches are nearly all "no change": a share of the
patches (``change_share``) is placed over a changed pixel, the rest drawn uniformly, and the model learns with
binary cross-entropy on that richer mix. Its logits are then shifted by the log-odds of change in the cities minus
that in the patches (Bayes' prior correction, applied in eval mode), so that a 0.5 threshold suits real scenes.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from dinomc_core.data.normalization import Normalization
from dinomc_core.data.oscd import CityPair
from dinomc_core.downstream.change_model import ChangeModel
from dinomc_core.downstream.evaluation import change_metrics, predict_change
from dinomc_core.downstream.runtime import Runtime
from dinomc_core.errors import DinoMCError
from dinomc_core.progress import Progress, SilentProgress, check_cancelled


class ChangePatches(Dataset):
    """``length`` random patches ``(before, after, change)`` of the training cities, flipped and rotated jointly."""

    def __init__(self, pairs: list[CityPair], normalization: Normalization, patch_size: int, length: int,
                 change_share: float = 0.5, seed: int = 0) -> None:
        small = [pair.name for pair in pairs if min(pair.change.shape) < patch_size]
        if small:
            raise DinoMCError(
                f"the cities {', '.join(small)} are smaller than the {patch_size} px training patches; "
                "use a smaller --patch-size"
            )
        self.pairs, self.normalization = pairs, normalization
        self.patch_size, self.length, self.change_share, self.seed = patch_size, length, change_share, seed
        self.changed = [np.argwhere(pair.change) for pair in pairs]
        areas = np.array([pair.change.size for pair in pairs], dtype=np.float64)
        self.city_weights = areas / areas.sum()
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def _draw(self, rng: np.random.Generator) -> tuple[int, int, int]:
        """City (by area) and top-left corner of a patch: over a changed pixel for ``change_share`` of draws."""
        city = int(rng.choice(len(self.pairs), p=self.city_weights))
        height, width = self.pairs[city].change.shape
        size = self.patch_size
        if len(self.changed[city]) and rng.random() < self.change_share:
            row, col = self.changed[city][rng.integers(len(self.changed[city]))]
            row, col = row - rng.integers(size), col - rng.integers(size)
        else:
            row, col = rng.integers(height - size + 1), rng.integers(width - size + 1)
        return city, int(np.clip(row, 0, height - size)), int(np.clip(col, 0, width - size))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        city, row, col = self._draw(rng)
        window = (slice(row, row + self.patch_size), slice(col, col + self.patch_size))
        pair = self.pairs[city]
        stacked = np.concatenate([
            self.normalization.apply(pair.before[(slice(None), *window)].astype(np.float32)),
            self.normalization.apply(pair.after[(slice(None), *window)].astype(np.float32)),
            pair.change[window][None].astype(np.float32),
        ])
        if rng.random() < 0.5:
            stacked = stacked[..., ::-1]
        stacked = torch.from_numpy(np.ascontiguousarray(np.rot90(stacked, int(rng.integers(4)), axes=(-2, -1))))
        bands = pair.before.shape[0]
        return stacked[:bands], stacked[bands:2 * bands], stacked[2 * bands:]

    def change_rate(self, draws: int = 512) -> float:
        """Share of changed pixels in the patches this sampler draws (estimated on ``draws`` patches)."""
        rng = np.random.default_rng((self.seed, 1 << 31))  # a stream apart from the training draws
        total = 0.0
        for _ in range(draws):
            city, row, col = self._draw(rng)
            total += float(self.pairs[city].change[row:row + self.patch_size, col:col + self.patch_size].mean())
        return total / draws


def log_odds(rate: float) -> float:
    """``log(p / (1 - p))`` of a rate kept away from 0 and 1."""
    rate = min(max(rate, 1e-6), 1 - 1e-6)
    return math.log(rate / (1 - rate))


def prior_offset(pairs: list[CityPair], patches: ChangePatches) -> float:
    """Log-odds of change in the training cities minus that in the training patches."""
    city_rate = sum(int(pair.change.sum()) for pair in pairs) / sum(pair.change.size for pair in pairs)
    return log_odds(city_rate) - log_odds(patches.change_rate())


def predict_cities(model: ChangeModel, pairs: list[CityPair], normalization: Normalization, runtime: Runtime,
                   tile: int) -> list[np.ndarray]:
    """Change probabilities of every city."""
    return [predict_change(model, pair.before, pair.after, normalization, runtime, tile) for pair in pairs]


def train_change_model(
    model: ChangeModel,
    train_pairs: list[CityPair],
    val_pairs: list[CityPair],
    normalization: Normalization,
    runtime: Runtime,
    epochs: int = 20,
    patches_per_epoch: int = 512,
    patch_size: int = 96,
    batch_size: int = 16,
    lr: float = 1e-3,
    encoder_lr_factor: float = 0.1,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[dict[str, float]]:
    """Train with Adam and a cosine schedule; ``model`` ends with the weights of the best validation F1."""
    progress = progress or SilentProgress()
    torch.manual_seed(seed)
    model.to(runtime.device)
    patches = ChangePatches(train_pairs, normalization, patch_size, patches_per_epoch, seed=seed)
    model.decoder.prior_logit_offset.fill_(prior_offset(train_pairs, patches))
    sampler = DistributedSampler(patches, shuffle=False) if runtime.distributed else None
    loader = DataLoader(patches, batch_size=batch_size, shuffle=False, sampler=sampler, drop_last=True)
    groups = [{"params": model.decoder.parameters(), "lr": lr}]
    if not model.freeze_encoder:
        groups.append({"params": model.encoder.parameters(), "lr": lr * encoder_lr_factor})
    optimizer = torch.optim.Adam(groups, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    trainer = runtime.wrap(model)
    scaler = runtime.grad_scaler()
    history: list[dict[str, float]] = []
    best_f1, best_state = -1.0, copy.deepcopy(model.state_dict())
    progress.set_total(epochs, "change model")
    for epoch in range(1, epochs + 1):
        patches.epoch = epoch
        trainer.train()
        total = 0.0
        for before, after, change in loader:
            check_cancelled(progress)
            before, after, change = (tensor.to(runtime.device) for tensor in (before, after, change))
            with runtime.autocast():
                logits = trainer(before, after).float()
            loss = F.binary_cross_entropy_with_logits(logits, change)
            optimizer.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += loss.item()
        schedule.step()
        if runtime.is_main:
            scores = change_metrics(val_pairs, predict_cities(model, val_pairs, normalization, runtime, patch_size))
            history.append({"epoch": epoch, "train_loss": total / max(len(loader), 1), "val_f1": scores["f1"],
                            "val_precision": scores["precision"], "val_recall": scores["recall"]})
            progress.log(f"epoch {epoch}: train loss {history[-1]['train_loss']:.4f}, validation F1 {scores['f1']:.4f}")
            if scores["f1"] > best_f1:
                best_f1, best_state = scores["f1"], copy.deepcopy(model.state_dict())
        progress.advance()
    model.load_state_dict(best_state)
    return history

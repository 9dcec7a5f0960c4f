"""A random forest as a head: trained with scikit-learn, stored as plain tensors, evaluated by scikit-learn's trees.

Few-shot pixel labels (a handful of small polygons) leave linear and MLP heads to extrapolate far from what was
drawn; a forest's axis-aligned splits and averaged leaves generalise better there (see docs/results.md). The model
file holds the trees as arrays (node feature, threshold, children, leaf class shares), so nothing is unpickled.
A map walks every tree for every pixel: scikit-learn's compiled walk, rebuilt from those arrays, run on blocks of
pixels on one thread per torch thread, each block's leaf shares summed as it goes (docs/benchmarks.md).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn

from dinomc_core.downstream.pixel_features import FeatureScaler
from dinomc_core.errors import DinoMCError

FOREST_TREES = 32
FOREST_DEPTH = 14
"""Trees and their depth: enough for few-shot labels (64 trees measured no better), and a map's cost grows with
both."""
WALK_BLOCK = 16384
"""Pixels per block of the walk: large enough that calls into scikit-learn cost nothing, small enough that a block's
leaf shares stay in cache."""


class ForestHead(nn.Module):
    """Mean class shares of the leaves the features fall in, over all trees, returned as log-probabilities."""

    def __init__(self, nodes: int, trees: int, depth: int, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.depth, self.feature_dim = depth, feature_dim
        self.register_buffer("roots", torch.zeros(trees, dtype=torch.long))
        self.register_buffer("feature", torch.zeros(nodes, dtype=torch.long))
        self.register_buffer("threshold", torch.zeros(nodes))
        self.register_buffer("left", torch.zeros(nodes, dtype=torch.long))
        self.register_buffer("right", torch.zeros(nodes, dtype=torch.long))
        self.register_buffer("leaf_value", torch.zeros(nodes, num_classes))
        self.compiled: dict[tuple, list] = {}
        self.register_load_state_dict_post_hook(lambda module, keys: module.compiled.clear())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self._log_shares(features, None)

    def dense(self, maps: torch.Tensor, scaler: FeatureScaler) -> torch.Tensor:
        """Log class shares ``(N, K, H, W)`` of unscaled feature maps ``(N, D, H, W)`` (``scaler`` then this head).

        The scaling is folded into the trees' thresholds, so the maps are walked as they are: channels-last maps
        (``FeatureFusion.raw(..., channels_last=True)``) become rows of pixels without a copy.
        """
        n, d, h, w = maps.shape
        shares = self._log_shares(maps.permute(0, 2, 3, 1).reshape(n * h * w, d), scaler)
        return shares.reshape(n, h, w, -1).permute(0, 3, 1, 2)

    def _log_shares(self, features: torch.Tensor, scaler: FeatureScaler | None) -> torch.Tensor:
        trees = self._trees(scaler)
        pixels = np.ascontiguousarray(features.detach().float().cpu().numpy())
        blocks = [pixels[start:start + WALK_BLOCK] for start in range(0, len(pixels), WALK_BLOCK)]
        with ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool:  # the walk releases the GIL
            shares = np.concatenate([np.zeros((0, self.leaf_value.shape[1]), np.float32),
                                     *pool.map(lambda block: mean_leaf_shares(trees, block), blocks)])
        return torch.from_numpy(shares).to(features.device).clamp_min(1e-6).log()

    def _trees(self, scaler: FeatureScaler | None) -> list:
        """The compiled trees, for scaled features or (with ``scaler``) for the features before it; rebuilt when the
        scaler's statistics change."""
        key = () if scaler is None else (id(scaler), scaler.mean._version, scaler.scale._version)
        if key not in self.compiled:
            threshold = self.threshold.double()
            if scaler is not None:  # (x - mean) * scale <= t  <=>  x <= t / scale + mean, for scale > 0
                scale, mean = scaler.scale.double()[self.feature], scaler.mean.double()[self.feature]
                dropped = torch.where(threshold >= 0, torch.inf, -torch.inf)  # a feature weighted 0 is always 0
                threshold = torch.where(scale > 0, threshold / scale.clamp_min(1e-300) + mean, dropped)
            self.compiled[key] = self._compile(threshold.cpu().numpy())
        return self.compiled[key]

    def _compile(self, thresholds: np.ndarray) -> list:
        """One scikit-learn ``Tree`` per stored tree (leaves point to themselves here, to -1 there), with its nodes'
        class shares."""
        from sklearn.tree._tree import NODE_DTYPE, Tree

        bounds = self.roots.tolist() + [len(self.feature)]
        num_classes = self.leaf_value.shape[1]
        trees = []
        for start, stop in zip(bounds[:-1], bounds[1:]):
            left, right = (self.left[start:stop] - start).cpu().numpy(), (self.right[start:stop] - start).cpu().numpy()
            leaf = left == np.arange(stop - start)
            nodes = np.zeros(stop - start, dtype=NODE_DTYPE)
            nodes["left_child"], nodes["right_child"] = np.where(leaf, -1, left), np.where(leaf, -1, right)
            nodes["feature"] = np.where(leaf, -2, self.feature[start:stop].cpu().numpy())
            nodes["threshold"] = np.where(leaf, -2.0, thresholds[start:stop])
            tree = Tree(self.feature_dim, np.array([num_classes], dtype=np.intp), 1)
            try:
                tree.__setstate__({"max_depth": self.depth, "node_count": stop - start, "nodes": nodes,
                                   "values": self.leaf_value[start:stop, None, :].double().cpu().numpy().copy()})
            except (KeyError, ValueError) as error:
                raise DinoMCError(f"this version of scikit-learn stores trees differently ({error}); install "
                                  "scikit-learn 1.3 to 1.9 to map with a forest head") from error
            trees.append((tree, self.leaf_value[start:stop].float().cpu().numpy()))
        return trees

    def describe(self) -> dict:
        trees, (nodes, num_classes) = len(self.roots), self.leaf_value.shape
        return {"type": "forest", "nodes": nodes, "trees": trees, "depth": self.depth,
                "feature_dim": self.feature_dim, "num_classes": num_classes}


def mean_leaf_shares(trees: list, pixels: np.ndarray) -> np.ndarray:
    """The class shares of the leaves ``pixels`` ``(M, D)`` fall in, averaged over compiled ``trees`` (gathered into
    one reused buffer: half the time of indexing, which allocates for every tree)."""
    total = np.zeros((len(pixels), trees[0][1].shape[1]), np.float32)
    shares = np.empty_like(total)
    for tree, leaf_shares in trees:
        np.take(leaf_shares, tree.apply(pixels), axis=0, out=shares)
        total += shares
    return total / len(trees)


def train_forest_head(features: torch.Tensor, targets: torch.Tensor, num_classes: int, seed: int = 0) -> ForestHead:
    """A random forest (scikit-learn) on ``features`` ``(M, D)``, converted into a ``ForestHead``.

    The trees are stored one after another; a leaf is the node whose children are itself (the model file's format
    since the forest head exists).
    """
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=FOREST_TREES, max_depth=FOREST_DEPTH, random_state=seed, n_jobs=-1)
    forest.fit(features.numpy(), targets.numpy())
    parts, roots, offset = [], [], 0
    for estimator in forest.estimators_:
        tree = estimator.tree_
        count = tree.node_count
        index = np.arange(count)
        leaf = tree.children_left < 0
        shares = np.zeros((count, num_classes), np.float32)
        values = tree.value[:, 0, :]
        shares[:, estimator.classes_.astype(int)] = values / np.maximum(values.sum(axis=1, keepdims=True), 1e-12)
        parts.append((np.where(leaf, 0, tree.feature), tree.threshold.astype(np.float32),
                      offset + np.where(leaf, index, tree.children_left), offset + np.where(leaf, index, tree.children_right),
                      shares))
        roots.append(offset)
        offset += count
    feature, threshold, left, right, shares = (np.concatenate(column) for column in zip(*parts))
    head = ForestHead(offset, len(roots), FOREST_DEPTH, features.shape[1], num_classes)
    for name, value in (("roots", roots), ("feature", feature), ("threshold", threshold), ("left", left),
                        ("right", right), ("leaf_value", shares)):
        getattr(head, name).copy_(torch.as_tensor(np.asarray(value)))
    return head.eval()

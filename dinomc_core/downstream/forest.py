"""A random forest as a head: trained with scikit-learn, stored as plain tensors, evaluated in torch.

Few-shot pixel labels (a handful of small polygons) leave linear and MLP heads to extrapolate far from what was
drawn; a forest's axis-aligned splits and averaged leaves generalise better there (see docs/results.md). The model
file holds the trees as arrays (node feature, threshold, children, leaf class shares), so nothing is unpickled
and scikit-learn is needed only to train.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

FOREST_TREES = 64
FOREST_DEPTH = 14
"""Trees and their depth: enough for few-shot labels, small enough that a map costs little more than the encoder."""
PIXEL_CHUNK = 16384


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

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._shares(chunk) for chunk in features.split(PIXEL_CHUNK)]).clamp_min(1e-6).log()

    def _shares(self, features: torch.Tensor) -> torch.Tensor:
        features = features.float()
        node = self.roots.expand(len(features), -1)
        rows = torch.arange(len(features), device=features.device)[:, None]
        for _ in range(self.depth):
            go_left = features[rows, self.feature[node]] <= self.threshold[node]
            node = torch.where(go_left, self.left[node], self.right[node])
        return self.leaf_value[node].mean(dim=1)

    def describe(self) -> dict:
        trees, (nodes, num_classes) = len(self.roots), self.leaf_value.shape
        return {"type": "forest", "nodes": nodes, "trees": trees, "depth": self.depth,
                "feature_dim": self.feature_dim, "num_classes": num_classes}


def train_forest_head(features: torch.Tensor, targets: torch.Tensor, num_classes: int, seed: int = 0) -> ForestHead:
    """A random forest (scikit-learn) on ``features`` ``(M, D)``, converted into a ``ForestHead``.

    Leaves point to themselves, so every sample walks exactly ``depth`` steps whatever its leaf's depth.
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

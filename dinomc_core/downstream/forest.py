"""A random forest as a head: trained with scikit-learn, stored as plain tensors, evaluated by scikit-learn's trees.

Few-shot pixel labels (a handful of small polygons) leave linear and MLP heads to extrapolate far from what was
drawn; a forest's axis-aligned splits and averaged leaves generalise better there (see docs/results.md). The model
file holds the trees as arrays (node feature, threshold, children, leaf class shares), so nothing is unpickled.
A map walks every tree for every pixel: scikit-learn's compiled walk, rebuilt from those arrays and run on one
thread per torch thread, makes a map 6 to 7 times faster than the same walk as torch gathers (docs/benchmarks.md).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn

from dinomc_core.errors import DinoMCError

FOREST_TREES = 32
FOREST_DEPTH = 14
"""Trees and their depth: enough for few-shot labels (64 trees measured no better), and a map's cost grows with
both."""


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
        self.compiled_trees: list | None = None
        self.register_load_state_dict_post_hook(lambda module, keys: setattr(module, "compiled_trees", None))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.compiled_trees is None:
            self.compiled_trees = self._compile()
        pixels = np.ascontiguousarray(features.detach().float().cpu().numpy())
        with ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool:  # the walk releases the GIL
            shares = sum(pool.map(lambda tree: tree.predict(pixels).reshape(len(pixels), -1), self.compiled_trees))
        shares = torch.from_numpy(shares / len(self.compiled_trees)).float().to(features.device)
        return shares.clamp_min(1e-6).log()

    def _compile(self) -> list:
        """One scikit-learn ``Tree`` per stored tree (leaves point to themselves here, to -1 there)."""
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
            nodes["threshold"] = np.where(leaf, -2.0, self.threshold[start:stop].double().cpu().numpy())
            tree = Tree(self.feature_dim, np.array([num_classes], dtype=np.intp), 1)
            try:
                tree.__setstate__({"max_depth": self.depth, "node_count": stop - start, "nodes": nodes,
                                   "values": self.leaf_value[start:stop, None, :].double().cpu().numpy().copy()})
            except (KeyError, ValueError) as error:
                raise DinoMCError(f"this version of scikit-learn stores trees differently ({error}); install "
                                  "scikit-learn 1.3 to 1.9 to map with a forest head") from error
            trees.append(tree)
        return trees

    def describe(self) -> dict:
        trees, (nodes, num_classes) = len(self.roots), self.leaf_value.shape
        return {"type": "forest", "nodes": nodes, "trees": trees, "depth": self.depth,
                "feature_dim": self.feature_dim, "num_classes": num_classes}


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

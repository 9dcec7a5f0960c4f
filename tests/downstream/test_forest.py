"""The forest head: scikit-learn's probabilities, the model file, and maps walked with the scaling folded in."""
from __future__ import annotations

import torch
from sklearn.ensemble import RandomForestClassifier

from dinomc_core.downstream.forest import FOREST_DEPTH, FOREST_TREES, WALK_BLOCK, ForestHead, train_forest_head
from dinomc_core.downstream.pixel_features import FeatureScaler
from dinomc_core.downstream.task_model import build_head
from tests.downstream.builders import blobs


def test_forest_head_reproduces_scikit_learn_and_survives_the_model_file():
    features, targets = blobs(200, 0)
    head = train_forest_head(features, targets, 3, seed=0)
    reference = RandomForestClassifier(n_estimators=FOREST_TREES, max_depth=FOREST_DEPTH, random_state=0)
    reference.fit(features.numpy(), targets.numpy())
    test_features, _ = blobs(50, 1)
    with torch.no_grad():
        shares = head(test_features).exp()
    assert torch.allclose(shares, torch.from_numpy(reference.predict_proba(test_features.numpy())).float(), atol=1e-5)
    rebuilt = build_head(head.describe(), multilabel=False)
    rebuilt.load_state_dict(head.state_dict())
    assert isinstance(rebuilt, ForestHead)
    with torch.no_grad():
        assert torch.equal(rebuilt(test_features), head(test_features))


def test_maps_walk_unscaled_features_with_the_scaling_folded_into_the_thresholds():
    raw, targets = blobs(300, 0)
    raw = raw * torch.tensor([30.0, 0.2]) + torch.tensor([1000.0, -5.0])  # units far from the scaled ones
    scaler = FeatureScaler(2)
    scaler.fit(raw, [1, 1])
    head = train_forest_head(scaler(raw), targets, 3, seed=0)
    test_raw = blobs(WALK_BLOCK // 3 + 7, 1)[0] * torch.tensor([30.0, 0.2]) + torch.tensor([1000.0, -5.0])
    maps = test_raw.T.reshape(1, 2, -1, 1).contiguous(memory_format=torch.channels_last)  # several walk blocks
    with torch.no_grad():
        expected = head(scaler(test_raw))
        dense = head.dense(maps, scaler)
    assert dense.shape == (1, 3, len(test_raw), 1)
    assert (dense[0, :, :, 0].T.argmax(1) == expected.argmax(1)).float().mean() > 0.999
    scaler.fit(raw * 2.0, [1, 1])  # new statistics: the folded trees are rebuilt, not reused
    with torch.no_grad():
        moved = head.dense(maps, scaler)
    assert not torch.equal(moved, dense)


def test_a_feature_weighted_zero_folds_into_a_fixed_branch():
    raw, targets = blobs(300, 0)
    raw = torch.cat([raw, torch.randn(len(raw), 1, generator=torch.Generator().manual_seed(0))], 1)
    scaler = FeatureScaler(3)
    scaler.fit(raw, [2, 1], [1.0, 0.0])  # the third feature dropped: it scales to 0 whatever its value
    head = train_forest_head(raw[:, :3], targets, 3, seed=0)  # trees that do split on the third feature
    maps = (raw[:, :3] * 50.0).T.reshape(1, 3, -1, 1).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert torch.equal(head.dense(maps, scaler)[0, :, :, 0].T.argmax(1),
                           head(scaler(raw[:, :3] * 50.0)).argmax(1))

"""Per-event baselines: target transforms, rows, a tiny fit with early stopping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.ground_truth_world import generate_logs, world_config
from mtrec_ray.eval import baselines as B
from mtrec_ray.irl.data import build_events, build_feature_spec


@pytest.mark.parametrize("kind", B.TRANSFORMS)
def test_transforms_are_monotone_and_standardised(kind):
    train = np.array([0.0, 1.0, 5.0, 5.0, 100.0])
    t = B.TargetTransform(kind, train)
    y = t(train)
    assert abs(y.mean()) < 1e-9 and abs(y.std() - 1) < 1e-9
    grid = t(np.array([0.0, 0.5, 5.0, 50.0, 1000.0]))
    assert np.all(np.diff(grid) >= 0)


def test_rows_and_a_tiny_fit():
    torch.manual_seed(0)
    logs = generate_logs(world_config("default", n_items=40), seed=5, n_users=60, horizon_days=2.0).logs
    spec = build_feature_spec(logs, n_items=40, max_history=5)
    tr = build_events(logs[logs.user_id < 45], spec)
    va = build_events(logs[logs.user_id >= 45], spec)
    click = B.click_rows(tr)
    assert click.targets.shape == (int(tr.slate_mask.sum()), 1)
    assert click.targets.sum() == (tr.clicked >= 0).sum()
    t = B.TargetTransform("log1p", tr.watch_time[tr.clicked >= 0])
    play = B.watch_rows(tr, t, per_impression=False)
    assert play.targets.shape[0] == (tr.clicked >= 0).sum()
    eng = B.engagement_rows(tr, t)
    assert np.isnan(eng.targets[:, 1]).sum() == eng.targets.shape[0] - play.targets.shape[0]
    cfg = B.BaselineConfig(dim=8, epochs=3, patience=1, max_history=5)
    fit = B.fit_per_event(tr, eng, va, B.engagement_rows(va, t), spec=spec, kinds=["bce", "mse", "bce"], config=cfg)
    assert 1 <= fit.epochs <= 3 and len(fit.valid_loss) == 3 and all(np.isfinite(fit.valid_loss))
    pred = B.predict_pairs(fit.model, va.hist_items[:4], va.hist_feats[:4], va.slate_items[:4], va.slate_nuis[:4])
    assert pred.shape == (4, va.slate_items.shape[1], 3)
    pop = B.popularity(tr, 40)
    assert pop.shape == (40,) and pop.sum() == (tr.clicked >= 0).sum()

"""QR-IQL pieces: targets with lagged weights, the loss, the training loop, artifacts."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from envs.ground_truth_world import generate_logs, world_config
from mtrec_ray.irl.config import IRLConfig
from mtrec_ray.irl.data import build_events, build_feature_spec, index_batch, to_tensors
from mtrec_ray.irl.qr_iql import (
    QRIQLModel,
    compute_targets,
    event_outputs,
    qr_iql_loss,
    score_pairs,
    train_qr_iql,
)
from mtrec_ray.models.reward_model import MentalRewardModel


@pytest.fixture(scope="module")
def tiny():
    logs = generate_logs(world_config("default", n_items=60), seed=3, n_users=80, horizon_days=2.0).logs
    train = logs[logs.user_id < 60]
    spec = build_feature_spec(train, n_items=60, max_history=6)
    return spec, build_events(train, spec), build_events(logs[logs.user_id >= 60], spec)


@pytest.mark.parametrize("overrides", [{}, {"depth": "buckets"}, {"use_click": True, "attraction_rank": 2, "item_prior": 0.1}, {"evidence": "continuation"}, {"use_mood": False, "use_return": False}])
def test_loss_is_finite_and_trains_every_part(tiny, overrides):
    spec, train, _ = tiny
    torch.manual_seed(0)
    cfg = IRLConfig.smoke().replace(**overrides)
    model = QRIQLModel(spec=spec, config=cfg)
    t = to_tensors(train)
    targets = compute_targets(copy.deepcopy(model), t)
    n = model.n_quantiles
    assert targets["next_value"].shape == (len(train), n)
    np.testing.assert_array_equal(targets["has_next"].numpy(), train.next_event >= 0)
    assert torch.all(targets["next_value"][~targets["has_next"]] == 0)
    rows = torch.arange(min(256, len(train)))
    loss, stats = qr_iql_loss(model, index_batch(t, rows), {k: v[rows] for k, v in targets.items()})
    assert torch.isfinite(loss) and stats["td"] > 0
    loss.backward()
    grad = model.reward.item_embedding.bias.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_quantiles_are_monotone_and_gamma_zero_has_no_td(tiny):
    spec, train, _ = tiny
    model = QRIQLModel(spec=spec, config=IRLConfig.smoke().replace(gamma=0.0))
    t = to_tensors(train)
    out = event_outputs(model, index_batch(t, torch.arange(100)))
    assert torch.all(out.rho[:, 1:] >= out.rho[:, :-1])
    assert torch.all(out.critic_next[:, 1:] >= out.critic_next[:, :-1] - 1e-6)
    targets = compute_targets(model, t)
    _, stats = qr_iql_loss(model, index_batch(t, torch.arange(100)), {k: v[:100] for k, v in targets.items()})
    assert stats["td"] == 0.0


def test_compute_targets_is_pure_and_uses_the_given_weights(tiny):
    spec, train, _ = tiny
    torch.manual_seed(0)
    model = QRIQLModel(spec=spec, config=IRLConfig.smoke())
    t = to_tensors(train)
    lagged = copy.deepcopy(model)
    before = {k: v.clone() for k, v in lagged.state_dict().items()}
    a = compute_targets(lagged, t)
    assert all(torch.equal(v, lagged.state_dict()[k]) for k, v in before.items())
    assert lagged.training  # mode restored
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)
    b = compute_targets(lagged, t)  # lagged copy unchanged -> same targets
    assert torch.equal(a["next_value"], b["next_value"])
    c = compute_targets(model, t)
    assert not torch.allclose(a["next_value"][a["has_next"]], c["next_value"][c["has_next"]])
    # sharding by rows of whole sessions gives the same targets as the full table
    half = int(np.flatnonzero(train.leave)[len(np.flatnonzero(train.leave)) // 2]) + 1
    shard = compute_targets(lagged, to_tensors(train.subset(np.arange(half))))
    assert torch.allclose(shard["next_value"], a["next_value"][:half], atol=1e-5)


def test_training_loop_early_stops_and_saves_an_artifact(tiny, tmp_path):
    spec, train, valid = tiny
    cfg = IRLConfig.smoke().replace(epochs=2)
    res = train_qr_iql(train, valid, spec=spec, config=cfg)
    assert 1 <= len(res.history) <= 2 and np.isfinite(res.history[-1]["valid_nll"])
    rm = res.reward_model
    rm.save(tmp_path / "m")
    loaded = MentalRewardModel.load(tmp_path / "m", expected_fingerprint=rm.item_fingerprint)
    q = score_pairs(loaded, valid.hist_items[:5], valid.hist_feats[:5], valid.slate_items[:5])
    assert q.shape == (5, valid.slate_items.shape[1], cfg.model.n_quantiles)
    assert np.all(np.diff(q, axis=-1) >= -1e-6)
    assert loaded.metadata["method"] == "qr-iql"

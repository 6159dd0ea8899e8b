"""Distributed QR-IQL: actors rebuild after a crash, the learner resumes after a crash."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_ray.irl.distributed import (
    DistributedConfig,
    quantile_coverage,
    shard_rows,
    train_distributed,
)
from mtrec_ray.training import ScalingOptions


@pytest.fixture(scope="module")
def tiny_events():
    from envs.ground_truth_world import generate_logs, world_config
    from mtrec_ray.irl.config import IRLConfig
    from mtrec_ray.irl.data import build_events, build_feature_spec, split_users

    wl = generate_logs(world_config("default", n_items=120, n_users=160, horizon_days=2.0), seed=0)
    logs = wl.logs
    cfg = IRLConfig.smoke().replace(epochs=4, patience=10)
    split = split_users(logs["user_id"].to_numpy(), seed=0)
    train_logs = logs[logs["user_id"].isin(split["train"])]
    spec = build_feature_spec(
        train_logs, n_items=120, n_depth=cfg.n_depth, max_history=cfg.model.max_history,
        max_mood=cfg.max_mood, return_days=cfg.return_days,
    )
    train = build_events(train_logs, spec)
    valid = build_events(logs[logs["user_id"].isin(split["valid"])], spec)
    return train, valid, spec, cfg


def test_shards_partition_whole_users(tiny_events):
    train, *_ = tiny_events
    parts = [shard_rows(train, s, 3) for s in range(3)]
    assert sum(p.size for p in parts) == len(train)
    users = [set(train.user[p].tolist()) for p in parts]
    assert not (users[0] & users[1]) and not (users[1] & users[2])


def test_quantile_coverage_is_zero_when_calibrated():
    rng = np.random.default_rng(0)
    taus = (2 * np.arange(8) + 1) / 16
    samples = rng.normal(size=(20000, 8))
    predicted = np.broadcast_to(np.quantile(rng.normal(size=200000), taus), (20000, 8))
    assert quantile_coverage(predicted, samples, taus) < 0.01
    assert quantile_coverage(predicted + 3.0, samples, taus) > 0.4


def test_actor_and_learner_crash_recovery_keeps_every_transition(ray_session, tiny_events, tmp_path):
    train, valid, spec, cfg = tiny_events
    dist = DistributedConfig(
        num_shards=2,
        scaling=ScalingOptions(num_workers=1, max_failures=1),
        actor_crash_at_round=1,
        crash_at_epoch=2,
    )
    res = train_distributed(
        train, valid, spec=spec, config=cfg, dist=dist, name="irl_crash",
        storage_path=str(tmp_path / "ray_results"),
    )
    assert (tmp_path / "ray_results" / "irl_crash.actor_crash_marker").exists()
    epochs = [int(h["epoch"]) for h in res.history]
    assert epochs == [0, 1, 2, 3]  # every epoch exactly once despite the learner crash
    for h in res.history:
        assert h["transitions_targeted"] == len(train)  # no transition lost to the actor crash
        assert h["transitions_used"] >= len(train)
    assert res.history[-1]["valid_nll"] < res.history[0]["valid_nll"]
    out = res.reward_model.save(tmp_path / "model")
    assert (out / "weights.pt").exists()

"""The IRL quality report on a tiny world: every metrics.json key, with sane values."""

from __future__ import annotations

import math

from envs.ground_truth_world import generate_logs, world_config
from mtrec_ray.eval.baselines import BaselineConfig
from mtrec_ray.eval.irl_quality import REQUIRED_KEYS, frame_of, irl_quality_metrics, world_quality
from mtrec_ray.irl.config import IRLConfig


def test_world_quality_reports_every_key():
    logs = generate_logs(world_config("default", n_items=60), seed=2, n_users=120, horizon_days=2.0)
    irl = IRLConfig.smoke().replace(epochs=1)
    base = BaselineConfig(dim=8, max_history=10, epochs=1, patience=1)
    world = world_quality(logs, irl=irl, baseline=base, n_boot=5, baseline_lrs=(1e-2,))
    metrics = irl_quality_metrics(world, {"auc_rating": 0.6, "auc_rating_click_model": 0.55, "auc_rating_popularity": 0.6})
    for key in REQUIRED_KEYS + ("auc_rating", "auc_rating_click_model", "auc_rating_popularity"):
        assert key in metrics, key
    assert -1 <= metrics["spearman"] <= 1 and len(metrics["spearman_ci95"]) == 2
    assert 0 <= metrics["coverage_error"] <= 0.5 and math.isfinite(metrics["coverage_error_n1"])
    assert world["watch_model_choice"].startswith("per_play_")
    table = frame_of(metrics)
    assert {"qr_iql", "click_model", "watch_model", "engagement_model", "n1", "gamma0"} <= set(table["model"])

"""A/B evaluation in the ground-truth world: metrics, intervals, paired lifts, outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtrec_ray.errors import ConfigError
from mtrec_ray.eval.ab import METRICS, ABConfig, ArmResult, run_ab, summarise
from mtrec_ray.recommenders import Histories, PopularityRecommender, RandomRecommender

SMALL = ABConfig(n_users=60, horizon_days=2.0, n_bootstrap=300, seed=1)


def test_run_ab_reports_every_metric_with_intervals(tmp_path):
    rep = run_ab(["random", "popularity"], SMALL, out_dir=tmp_path, quiet=True)
    assert rep["control"] == "random" and rep["users"] == 60
    for arm in ("random", "popularity"):
        for m in METRICS:
            e = rep["arms"][arm][m]
            assert e["ci95"][0] <= e["mean"] <= e["ci95"][1], (arm, m, e)
    pop = rep["arms"]["popularity"]["viewing_time"]
    assert pop["lift_ci95"][0] <= pop["lift"] <= pop["lift_ci95"][1]
    assert "lift" not in rep["arms"]["random"]["viewing_time"]
    saved = json.loads((tmp_path / "ab.json").read_text())
    assert saved["arms"]["popularity"]["ctr"]["mean"] == pytest.approx(rep["arms"]["popularity"]["ctr"]["mean"])
    assert (tmp_path / "ab.png").stat().st_size > 10_000


def test_identical_arms_have_zero_lift_common_random_numbers():
    a = RandomRecommender(n_items=1000, seed=5, name="a")
    b = RandomRecommender(n_items=1000, seed=5, name="b")
    rep = run_ab([a, b], SMALL, quiet=True)
    for m in ("viewing_time", "ctr", "session_length", "return_rate"):
        assert rep["arms"]["b"][m]["lift"] == pytest.approx(0.0, abs=1e-12)
        assert rep["arms"]["b"][m]["lift_ci95"] == pytest.approx([0.0, 0.0], abs=1e-12)


def test_popularity_beats_random_on_viewing_time():
    rep = run_ab(["random", "popularity"], ABConfig(n_users=200, horizon_days=3.0, n_bootstrap=500), quiet=True)
    assert rep["arms"]["popularity"]["viewing_time"]["lift_ci95"][0] > 0


def test_paired_bootstrap_lift_interval_is_narrower_than_unpaired_difference():
    rng = np.random.default_rng(0)
    base = rng.gamma(2.0, 3.0, size=400)
    arms = [ArmResult("c", {m: base.copy() for m in METRICS}),
            ArmResult("t", {m: base * 1.1 + rng.normal(0, 0.1, 400) for m in METRICS})]
    rep = summarise(arms, control="c", n_bootstrap=1000, confidence=0.95, seed=0)
    lo, hi = rep["t"]["viewing_time"]["lift_ci95"]
    assert lo > 0.08 and hi < 0.12


def test_bad_arms_are_refused():
    with pytest.raises(ConfigError, match="unknown recommender"):
        run_ab(["random", "bogus"], SMALL, quiet=True)
    with pytest.raises(ConfigError, match="unique"):
        run_ab(["random", "random"], SMALL, quiet=True)
    with pytest.raises(ConfigError, match="control arm"):
        run_ab(["random"], ABConfig(n_users=10, horizon_days=1, n_bootstrap=100, control="x"), quiet=True)

    class Broken:
        name = "broken"

        def recommend(self, histories: Histories, k: int, *, rng=None):  # noqa: ANN001, ANN201
            return np.zeros((histories.batch_size, k + 1), np.int64)

    with pytest.raises(ConfigError, match="broken.*shape"):
        run_ab([Broken()], SMALL, quiet=True)


def test_popularity_recommender_skips_consumed_items():
    rec = PopularityRecommender(counts=np.array([5.0, 9.0, 1.0, 7.0]))
    h = Histories.from_sequences([[1], []], length=3)
    assert rec.recommend(h, 2).tolist() == [[3, 0], [1, 3]]

"""Tests of the ground-truth world: API, determinism, log schema and frozen difficulty."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from envs.ground_truth_world import (
    LOG_COLUMNS,
    PRESETS,
    GroundTruthWorld,
    Histories,
    LoggingPolicy,
    WorldConfig,
    difficulty_report,
    generate_logs,
    load_world_logs,
    save_world_logs,
    session_table,
    world_config,
)
from mtrec_ray.errors import ArtifactError, ConfigError

# The difficulty bounds are checked on the real presets (1,000 items), with fewer users.
N_USERS = 1000


@pytest.fixture(scope="module")
def default_logs():
    return generate_logs(world_config("default"), seed=0, n_users=N_USERS)


@pytest.fixture(scope="module")
def aligned_logs():
    return generate_logs(world_config("aligned"), seed=0, n_users=N_USERS)


@pytest.fixture(scope="module")
def small_world() -> GroundTruthWorld:
    return GroundTruthWorld(config=world_config("default", n_items=300, n_users=200), seed=3)


# ----------------------------------------------------------------------------- config


def test_presets_build_and_unknown_preset_lists_known_ones():
    for name in PRESETS:
        cfg = world_config(name)
        assert cfg.preset == name
    assert world_config("default") == WorldConfig()
    with pytest.raises(ConfigError, match="known presets: aligned, default, polarising"):
        world_config("nope")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_items": 0}, "n_items must be >= 1"),
        ({"n_items": 6}, "at least 2 \\* slate_size"),
        ({"bait_quality_corr": -1.5}, "must lie in \\[-1, 1\\]"),
        ({"noise_sd": 0.0}, "noise_sd must be > 0"),
        ({"mood_rate": 0.0}, "mood_rate must lie in \\(0, 1\\]"),
        ({"first_session_spread_days": 9.0}, "exceeds horizon_days"),
        ({"logging": {"p_popular": 0.5, "p_random": 0.5, "p_relevant": 0.5}}, "sum to 1"),
        ({"no_such_field": 1}, "unknown key\\(s\\) no_such_field.*known keys"),
        ({"n_users": "many"}, "expected an integer"),
    ],
)
def test_invalid_config_gives_fix_it_error(overrides, message):
    with pytest.raises(ConfigError, match=message):
        world_config("default", **overrides)


def test_overrides_merge_into_nested_logging_config():
    cfg = world_config("aligned", logging={"p_popular": 0.0, "p_random": 0.5, "p_relevant": 0.5})
    assert cfg.logging.p_random == 0.5 and cfg.logging.relevant_pool == 50
    assert cfg.click_bait == PRESETS["aligned"]["click_bait"]


# ----------------------------------------------------------------------------- logs


def test_generation_is_deterministic_for_a_seed():
    cfg = world_config("default", n_items=200, horizon_days=2.0)
    a = generate_logs(cfg, seed=7, n_users=100)
    b = generate_logs(cfg, seed=7, n_users=100)
    c = generate_logs(cfg, seed=8, n_users=100)
    pd.testing.assert_frame_equal(a.logs, b.logs)
    pd.testing.assert_frame_equal(a.ground_truth, b.ground_truth)
    pd.testing.assert_frame_equal(a.items, b.items)
    assert not a.logs.equals(c.logs)


def test_logs_follow_the_canonical_schema(default_logs):
    logs, gt = default_logs.logs, default_logs.ground_truth
    assert list(logs.columns) == list(LOG_COLUMNS)
    assert {c: str(t) for c, t in logs.dtypes.items()} == LOG_COLUMNS
    assert not logs.isna().any().any()
    # the hidden reward stays out of the logs
    assert not [c for c in logs.columns if "satisf" in c or "mood" in c or "quality" in c]
    k = world_config("default").slate_size
    per_slate = logs.groupby("slate_id")
    assert (per_slate.size() == k).all()
    assert (per_slate["click"].sum() <= 1).all()
    assert set(logs["position"].unique()) == set(range(k))
    assert (per_slate["item_id"].nunique() == k).all()
    # rows sorted by user then time, timestamps strictly increasing within a user
    assert (np.diff(logs["user_id"].to_numpy()) >= 0).all()
    same_user = np.diff(logs["user_id"].to_numpy()) == 0
    assert (np.diff(logs["timestamp"].to_numpy())[same_user] > 0).all()
    assert (logs.groupby("session_id")["user_id"].nunique() == 1).all()
    click = logs["click"].to_numpy() == 1
    np.testing.assert_allclose(
        logs["watch_time"].to_numpy(), logs["watch_ratio"].to_numpy() * logs["duration"].to_numpy()
    )
    assert (logs.loc[~click, "watch_time"] == 0).all()
    assert logs.loc[click, "watch_ratio"].between(0, 1).all()
    assert logs["duration"].between(15, 1200).all()
    # ground truth: aligned row by row, satisfaction only on clicks
    assert (gt["row"].to_numpy() == np.arange(len(logs))).all()
    assert (gt["user_id"].to_numpy() == logs["user_id"].to_numpy()).all()
    assert (gt["item_id"].to_numpy() == logs["item_id"].to_numpy()).all()
    assert gt["satisfaction"].notna().to_numpy().tolist() == click.tolist()
    assert gt["expected_satisfaction"].notna().to_numpy().tolist() == click.tolist()
    np.testing.assert_allclose(
        gt.loc[click, "expected_satisfaction"], gt.loc[click, "expected_satisfaction_if_consumed"]
    )
    # realistic sizes: sessions of ~5-30 slates, several sessions per user
    sess = session_table(default_logs)
    assert 5 <= sess["n_slates"].mean() <= 30
    assert sess.groupby("user_id").size().mean() >= 3


def test_save_load_round_trip_rebuilds_the_world(tmp_path):
    wl = generate_logs(world_config("polarising", n_items=100), seed=2, n_users=30)
    save_world_logs(wl, tmp_path / "w")
    assert (tmp_path / "w" / "logs.parquet").exists()
    back = load_world_logs(tmp_path / "w")
    pd.testing.assert_frame_equal(back.logs, wl.logs)
    pd.testing.assert_frame_equal(back.ground_truth, wl.ground_truth)
    pd.testing.assert_frame_equal(back.items, wl.items)
    pd.testing.assert_frame_equal(back.users, wl.users)
    assert back.config == wl.config and back.seed == 2
    pd.testing.assert_frame_equal(back.world().items_frame(), wl.items)
    with pytest.raises(ArtifactError, match="missing"):
        load_world_logs(tmp_path / "nowhere")


# ----------------------------------------------------------------------------- difficulty


def test_default_difficulty_bounds(default_logs):
    r = difficulty_report(default_logs)
    assert r["ctr_vs_true_mean_items"] >= 900
    assert r["ctr_vs_true_mean_spearman"] <= 0.2
    assert 0.3 <= r["watch_ratio_vs_satisfaction_spearman"] <= 0.6


def test_aligned_clicks_track_satisfaction(aligned_logs):
    r = difficulty_report(aligned_logs)
    assert r["ctr_vs_true_mean_spearman"] >= 0.6


def test_dissatisfaction_shortens_sessions(default_logs):
    r = difficulty_report(default_logs)
    low = r["session_slates_after_low_first_satisfaction"]
    high = r["session_slates_after_high_first_satisfaction"]
    assert low < 0.75 * high
    assert r["session_slates_vs_mean_satisfaction_spearman"] > 0.2


def test_dissatisfaction_lowers_return(default_logs):
    r = difficulty_report(default_logs)
    assert r["return_rate_low_satisfaction"] < r["return_rate_high_satisfaction"] - 0.1
    assert r["gap_days_low_satisfaction"] > 1.5 * r["gap_days_high_satisfaction"]


def test_world_is_learnable_but_watch_ratio_is_fooled_by_duration(default_logs):
    logs, gt, items = default_logs.logs, default_logs.ground_truth, default_logs.items
    true_mean = items["mean_satisfaction"]
    assert stats.spearmanr(true_mean, items["quality"]).statistic > 0.5
    assert stats.spearmanr(true_mean, items["bait"]).statistic < -0.3
    click = logs["click"] == 1
    # going on vs leaving carries signal about the satisfaction just experienced
    leave = gt.loc[click, "leave"].to_numpy()
    sat = gt.loc[click, "satisfaction"].to_numpy()
    assert sat[~leave].mean() > sat[leave].mean() + 0.5
    # item mean watch ratio: real signal, but duration dominates (short items are finished)
    wr = logs[click].groupby("item_id")["watch_ratio"].mean()
    assert stats.spearmanr(wr, true_mean[wr.index]).statistic > 0.2
    assert stats.spearmanr(wr, items["duration"][wr.index]).statistic < -0.4


def test_polarising_has_higher_reward_variance(default_logs):
    pol = generate_logs(world_config("polarising"), seed=0, n_users=300)

    def within_item_var(wl):
        g = wl.ground_truth[wl.logs["click"] == 1]
        return g.groupby("item_id")["satisfaction"].var().mean()

    assert within_item_var(pol) > 2.0 * within_item_var(default_logs)
    pw = pol.world()
    assert pw.item_satisfaction_sd.mean() > 1.5 * default_logs.world().item_satisfaction_sd.mean()


# ----------------------------------------------------------------------------- ground truth API


def test_realised_satisfaction_is_unbiased_with_item_spread(small_world):
    w = small_world
    items = np.array([0, 1, 2, 3, 4])
    users = np.full(items.size, 5)
    draws = w.sample_satisfaction(users, items, rng=0, n_samples=40_000)
    mu = w.expected_satisfaction(users, items)
    np.testing.assert_allclose(draws.mean(axis=1), mu, atol=0.03)
    np.testing.assert_allclose(draws.std(axis=1), w.item_satisfaction_sd[items], rtol=0.03)


def test_item_mean_satisfaction_averages_over_users(small_world):
    w = small_world
    users = np.repeat(np.arange(w.n_users), 3)
    items = np.tile([7, 8, 9], w.n_users)
    mu = w.expected_satisfaction(users, items).reshape(w.n_users, 3).mean(axis=0)
    np.testing.assert_allclose(mu, w.item_mean_satisfaction[[7, 8, 9]])


def test_satiation_makes_history_matter(small_world):
    w = small_world
    users, items = np.array([0, 0]), np.array([[10, 11], [10, 11]])
    hist = np.array([[-1, -1], [11, 10]])
    fresh, sated = w.expected_satisfaction(users, items, history_items=hist)
    assert (sated < fresh).all()
    assert fresh == pytest.approx(w.expected_satisfaction(users[:1], items[:1])[0])


def test_logged_expected_satisfaction_matches_history_from_logs():
    cfg = world_config("default", n_items=150, horizon_days=2.0)
    wl = generate_logs(cfg, seed=4, n_users=40)
    world, length = wl.world(), cfg.history_len
    clicked = wl.logs[wl.logs["click"] == 1]
    users, items, hists = [], [], []
    for user, ev in clicked.groupby("user_id", sort=True):
        seq = ev["item_id"].to_numpy()
        for j in range(seq.size):
            past = seq[max(0, j - length) : j]
            hists.append(np.concatenate([np.full(length - past.size, -1), past]))
            users.append(user)
            items.append(seq[j])
    mu = world.expected_satisfaction(
        np.array(users), np.array(items), history_items=np.array(hists)
    )
    np.testing.assert_allclose(mu, wl.ground_truth.loc[clicked.index, "expected_satisfaction"])


# ----------------------------------------------------------------------------- batch engine


class _TopByScore:
    """External recommender: the K items with the highest per-item score."""

    def __init__(self, scores: np.ndarray, k: int) -> None:
        self.top = np.argsort(-scores)[:k]

    def recommend(self, histories: Histories) -> np.ndarray:
        return np.tile(self.top, (histories.user_ids.size, 1))


def test_external_policies_can_be_compared_in_the_world(small_world):
    w = small_world
    k = w.config.slate_size
    good = w.run(_TopByScore(w.item_mean_satisfaction, k), rng=1, horizon_days=3.0)
    bait = w.run(_TopByScore(w.item_bait, k), rng=1, horizon_days=3.0)
    g, b = good.user_summary(), bait.user_summary()
    assert len(g) == w.n_users and (g["n_sessions"] >= 1).all()
    assert g["satisfaction_sum"].mean() > b["satisfaction_sum"].mean()
    assert g["n_sessions"].mean() > b["n_sessions"].mean()
    # a plain callable works too, and the rollout converts to canonical logs
    logs, gt = w.run(lambda h: np.tile(np.arange(k), (h.user_ids.size, 1)), rng=1).to_frames(w)
    assert list(logs.columns) == list(LOG_COLUMNS) and len(gt) == len(logs)


def test_single_session_batch_loop_with_histories(small_world):
    w = small_world
    rng = np.random.default_rng(0)
    policy = LoggingPolicy(world=w, rng=1)
    state = w.reset_batch(np.arange(50), rng)
    clicks_per_user, steps = np.zeros(50, dtype=np.int64), 0
    while state.n_active:
        hist = state.histories()
        slates = np.zeros((50, w.config.slate_size), dtype=np.int64)
        slates[hist.rows] = policy.recommend(hist)
        resp, state = w.step_batch(state, slates)
        steps += 1
        clicked = resp.clicked_position >= 0
        np.add.at(clicks_per_user, resp.rows, clicked)
        assert np.isnan(resp.satisfaction[~clicked]).all()
        assert (resp.watch_time[~clicked] == 0).all()
        assert not resp.returns.any()
    assert steps <= w.config.max_session_len
    consumed = (state.hist_items >= 0).sum(axis=1)
    np.testing.assert_array_equal(consumed, np.minimum(clicks_per_user, w.config.history_len))
    assert consumed.sum() > 0
    with pytest.raises(ValueError, match="shape"):
        w.step_batch(w.reset_batch(np.arange(3), rng), np.zeros((2, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="outside"):
        w.step_batch(w.reset_batch(np.arange(3), rng), np.full((3, 5), w.n_items))


def test_envs_never_imports_ray():
    code = "import sys, envs.ground_truth_world; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_world_spec_rebuilds_the_exact_world(tmp_path):
    from envs.ground_truth_world import (
        generate_logs,
        load_world_spec,
        save_world_logs,
        world_config,
    )

    wl = generate_logs(world_config("default", n_items=50, n_users=20, horizon_days=1.0), seed=3)
    save_world_logs(wl, tmp_path)
    world = load_world_spec(tmp_path)
    original = wl.world()
    users = np.arange(5)
    items = np.arange(5)
    np.testing.assert_allclose(
        world.expected_satisfaction(users, items), original.expected_satisfaction(users, items)
    )


def test_world_spec_missing_is_a_clear_error(tmp_path):
    from envs.ground_truth_world import load_world_spec

    with pytest.raises(ArtifactError, match="ground truth exists only"):
        load_world_spec(tmp_path)

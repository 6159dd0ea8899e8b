"""``mtrec irl`` end to end on a tiny world, then ``mtrec reward`` and the mental reward
as the simulators' reward function."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtrec_ray.cli import main


@pytest.fixture(scope="module")
def irl_run(ray_session, tmp_path_factory):
    root = tmp_path_factory.mktemp("irl")
    world = root / "world"
    assert main(["generate", "--users", "120", "--items", "100", "--days", "3", "--out", str(world)]) == 0
    out = root / "irl"
    code = main(["irl", "--data", str(world), "--out", str(out), "--smoke", "--set", "baselines=false"])
    assert code == 0
    return world, out


def test_irl_writes_artifact_metrics_and_plots(irl_run):
    _, out = irl_run
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("spearman", "spearman_ci95", "coverage_error", "valid_nll"):
        assert key in metrics
    assert -1.0 <= metrics["spearman"] <= 1.0
    lo, hi = metrics["spearman_ci95"]
    assert lo <= hi
    assert metrics["use_ray"] is True
    for plot in ("learning_curves.png", "recovery_scatter.png", "quantile_fans.png", "calibration.png"):
        assert (out / plot).stat().st_size > 1000
    assert (out / "model" / "weights.pt").exists()
    history = json.loads((out / "history.json").read_text())
    assert history and all("transitions_targeted" in h for h in history)


def test_reward_scores_logged_items(irl_run, tmp_path):
    world, out = irl_run
    assert main(["reward", "--model", str(out / "model"), "--data", str(world),
                 "--out", str(tmp_path / "scores"), "--limit", "50"]) == 0
    import pandas as pd

    table = pd.read_parquet(tmp_path / "scores" / "rewards.parquet")
    assert len(table) == 50
    q = table[[c for c in table.columns if c.startswith("q")]].to_numpy()
    assert np.all(np.diff(q, axis=1) >= -1e-6)  # monotone quantiles
    assert np.all(table["cvar"] <= table["mean"] + 1e-6)


def test_reward_refuses_another_catalogue(irl_run, tmp_path):
    _, out = irl_run
    other = tmp_path / "other"
    assert main(["generate", "--users", "20", "--items", "50", "--out", str(other)]) == 0
    assert main(["reward", "--model", str(out / "model"), "--data", str(other),
                 "--out", str(tmp_path / "s")]) == 2


def test_mental_reward_drives_the_simulators(irl_run):
    from mtrec_ray.recommenders import Histories
    from mtrec_ray.rl.rewards import RewardContext, resolve_reward

    _, out = irl_run
    reward = resolve_reward(f"mental:{out / 'model'}")
    hist = Histories(items=np.array([[-1, 3, 4], [-1, -1, -1]]), watch_ratio=np.array([[0, 0.5, 0.9], [0, 0, 0]]))
    ctx = RewardContext(
        histories=hist,
        slate=np.array([[7], [8]]),
        response={"click": np.array([1, 0]), "clicked_item": np.array([7, -1]),
                  "watch_ratio": np.array([0.4, 0.0]), "watch_time": np.array([10.0, 0.0]),
                  "leave": np.array([False, True]), "position": np.array([0, -1]),
                  "satisfaction": np.array([np.nan, np.nan])},
    )
    r = reward(ctx)
    assert r.shape == (2,) and r.dtype == np.float32
    assert r[1] == 0.0 and np.isfinite(r[0]) and r[0] != 0.0


def test_use_gpu_on_a_cpu_cluster_is_a_clear_error(irl_run, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MTREC_ALLOW_GPU_AUTOSCALE", raising=False)
    monkeypatch.setenv("MTREC_AUTOSCALING_CONFIG", str(tmp_path / "no_autoscaler.yaml"))
    world, _ = irl_run
    code = main(["irl", "--data", str(world), "--out", str(tmp_path / "gpu"), "--smoke",
                 "--set", "baselines=false", "--set", "distributed.scaling.use_gpu=true"])
    assert code == 2
    err = capsys.readouterr().err
    assert "use_gpu=true" in err and "the Ray cluster has 0" in err and "Traceback" not in err

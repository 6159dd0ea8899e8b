"""PPO in the log-fitted simulator: checkpoints, resume, and the policy as a Recommender."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtrec_ray.errors import ArtifactError, ConfigError
from mtrec_ray.recommenders import Histories, Recommender, make_recommender
from mtrec_ray.rl.config import RLConfig
from mtrec_ray.rl.policy import PolicyRecommender
from mtrec_ray.rl.train import PROGRESS_FILE, load_rl_config, read_run, train_policy
from tests.sim_helpers import tiny_sim, tiny_world


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("rl")
    return tiny_sim(root, tiny_world(root))


def test_train_checkpoint_resume_and_serve(sim_dir, ray_session, tmp_path):
    cfg = RLConfig.smoke(name="mtrec/UserSession-v0", kwargs={"artifact": str(sim_dir)}, reward="watch_time")
    run = tmp_path / "run"
    first = train_policy(cfg, out_dir=run, quiet=True)
    assert first.iterations == 1 and first.checkpoint.name == "iter_00001"
    cfg.iterations = 2
    second = train_policy(cfg, out_dir=run, quiet=True)
    assert second.resumed_from == 1 and second.iterations == 2
    assert len(second.metrics) == 1 and second.checkpoint.name == "iter_00002"
    rows = [json.loads(line) for line in (run / PROGRESS_FILE).read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2]
    assert read_run(run)["iterations_done"] == 2
    with pytest.raises(ConfigError, match="already holds a policy run"):
        train_policy(cfg, out_dir=run, resume=False, quiet=True)
    other = RLConfig.smoke(name="mtrec/GroundTruthWorld-v0")
    with pytest.raises(ConfigError, match="other simulator settings"):
        train_policy(other, out_dir=run, quiet=True)

    rec = make_recommender(f"policy:{run}", n_items=1000)
    assert isinstance(rec, PolicyRecommender) and isinstance(rec, Recommender)
    h = Histories.from_sequences([[1, 2, 3], [], [500]], length=50)
    slates = rec.recommend(h, 5)
    assert slates.shape == (3, 5) and slates.dtype == np.int64
    assert all(len(set(row)) == 5 for row in slates.tolist())
    assert np.array_equal(slates, rec.recommend(h, 5))  # greedy: deterministic
    assert rec.recommend(h, 1).shape == (3, 1)


def test_missing_run_and_config_errors(tmp_path):
    with pytest.raises(ArtifactError, match="not a policy run"):
        PolicyRecommender.load(tmp_path)
    (tmp_path / "rl.yaml").write_text("env: {name: mtrec/GroundTruthWorld-v0}\nppo: {minibatch_size: 9999}\n")
    with pytest.raises(ConfigError, match="minibatch_size"):
        load_rl_config(tmp_path / "rl.yaml")
    with pytest.raises(ConfigError, match="unknown key"):
        load_rl_config(None, ["ppo.learning_rate=0.1"])
    cfg = load_rl_config(tmp_path / "rl.yaml", ["ppo.minibatch_size=100", "iterations=3"])
    assert cfg.iterations == 3 and cfg.env.name == "mtrec/GroundTruthWorld-v0"


def test_shipped_rl_configs_load():
    from pathlib import Path

    files = sorted((Path(__file__).resolve().parents[1] / "rl_configs").glob("*.yaml"))
    assert files
    for f in files:
        cfg = load_rl_config(f)
        assert cfg.env.name in ("mtrec/UserSession-v0", "mtrec/GroundTruthWorld-v0")


def test_env_runner_resources_reach_rllib():
    from mtrec_ray.rl.train import build_ppo_config

    cfg = RLConfig.smoke(name="mtrec/GroundTruthWorld-v0")
    cfg.runners.num_env_runners = 2
    cfg.runners.resources_per_env_runner = {"rollout": 0.01}
    ppo = build_ppo_config(cfg)
    assert ppo.num_env_runners == 2
    assert ppo.custom_resources_per_env_runner == {"rollout": 0.01}
    assert ppo.num_cpus_per_env_runner == 1.0
    cfg.runners.cpus_per_env_runner = 0
    with pytest.raises(ConfigError, match="cpus_per_env_runner"):
        cfg.runners.validate()

"""Fidelity of the log-fitted simulator: metric helpers, the world report, MovieLens-100K."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from envs.user_session import SimulatorFitConfig, fit_simulator
from mtrec_ray.errors import ConfigError
from mtrec_ray.eval.fidelity import ece, fidelity_report, ks
from tests.sim_helpers import TINY_FIT, tiny_world


def test_ece_and_ks_known_answers():
    assert ece(np.array([0.2, 0.2, 0.8, 0.8]), np.array([0, 1, 1, 1])) == pytest.approx(0.5 * 0.3 + 0.5 * 0.2)
    assert ece(np.full(1000, 0.3), np.r_[np.ones(300), np.zeros(700)]) == pytest.approx(0.0)
    assert ks(np.arange(10), np.arange(10)) == 0.0
    assert ks(np.zeros(5), np.ones(5)) == 1.0


def test_world_fidelity_report(tmp_path):
    world = tiny_world(tmp_path, n_users=600, days=3.0)
    sim = fit_simulator(world, tmp_path / "sim", replace(TINY_FIT, epochs=6))
    rep = fidelity_report(sim, world, n_sessions=600, world_users=200, out_dir=tmp_path / "fid")
    held = rep["heldout"]
    # A small fit (480 users, 6 epochs) already tracks held-out logs closely.
    assert held["ctr_rel_error"] < 0.1 and held["ctr_ece"] < 0.06
    assert held["watch_ratio"]["w1"] < 0.05
    main = rep["rollouts"]["logging_policy_vs_heldout_logs"]
    assert main["ctr_rel_error"] < 0.15 and main["session_length_ks"] < 0.2
    assert "random_policy_vs_world" in rep["rollouts"]
    assert (tmp_path / "fid" / "fidelity.json").exists()


def test_fidelity_needs_holdout_and_matching_data(tmp_path):
    world = tiny_world(tmp_path)
    fit_simulator(world, tmp_path / "all", SimulatorFitConfig(epochs=1, holdout_fraction=0.0))
    with pytest.raises(ConfigError, match="holdout_fraction"):
        fidelity_report(tmp_path / "all", world)
    other = tiny_world(tmp_path / "other", seed=1)
    with pytest.raises(ConfigError, match="not .*other"):
        fidelity_report(tmp_path / "all", other)


def test_movielens_fidelity(ml100k_dir, tmp_path):
    from mtrec_ray.data.dataset import ingest

    ingest("movielens", ml100k_dir, tmp_path / "ml")
    fit_simulator(tmp_path / "ml", tmp_path / "sim",
                  SimulatorFitConfig(epochs=2, holdout_fraction=0.2, history_len=10, hidden=16, embed_dim=16))
    rep = fidelity_report(tmp_path / "sim", tmp_path / "ml", n_sessions=300)
    held = rep["heldout"]
    # Every MovieLens event is consumed: the model must learn that (no "no click").
    assert held["ctr_logged"] == 1.0 and held["ctr_rel_error"] < 0.05
    assert held["choice_ece"] < 0.1
    assert "popularity_policy_vs_heldout_logs" in rep["rollouts"]

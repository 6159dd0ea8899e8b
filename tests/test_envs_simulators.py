"""Every registered simulator: env checker, same-seed determinism, pickling; vector envs."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.registry import check_simulator
from envs.user_session import InvalidActionError
from envs.vector import GroundTruthWorldVectorEnv, UserSessionVectorEnv
from mtrec_ray.errors import ConfigError
from tests.sim_helpers import tiny_sim, tiny_world

EXAMPLE = "examples.custom_simulator:TopicSim"


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("sims")
    return tiny_sim(root, tiny_world(root))


def _kwargs(name: str, sim_dir) -> dict:
    return {"mtrec/UserSession-v0": {"artifact": str(sim_dir)}}.get(name, {})


SIMULATORS = sorted(set(envs.names()) | {EXAMPLE})


def _rollout(env: gym.Env, seed: int, steps: int = 25) -> list:
    out = []
    obs, _ = env.reset(seed=seed)
    act_rng = np.random.default_rng(seed)
    out.append(obs.copy())
    for _ in range(steps):
        a = act_rng.integers(0, env.n_items, size=env.action_space.shape or None)
        obs, r, term, trunc, info = env.step(a)
        out.append((obs.copy(), r, term, trunc, dict(info["response"])))
        if term or trunc:
            obs, _ = env.reset()
            out.append(obs.copy())
    return out


def _same(a: list, b: list) -> bool:
    return gym.utils.env_checker.data_equivalence(a, b)


@pytest.mark.parametrize("name", SIMULATORS)
@pytest.mark.parametrize("slate_size", [1, 3])
def test_env_checker_and_protocol(name, slate_size, sim_dir):
    env = envs.make(name, slate_size=slate_size, **_kwargs(name, sim_dir))
    check_env(env, skip_render_check=True)
    check_simulator(env, name=name)
    expected = gym.spaces.Discrete if slate_size == 1 else gym.spaces.MultiDiscrete
    assert isinstance(env.action_space, expected)


@pytest.mark.parametrize("name", SIMULATORS)
def test_same_seed_same_episode(name, sim_dir):
    a = _rollout(envs.make(name, slate_size=2, **_kwargs(name, sim_dir)), seed=7)
    b = _rollout(envs.make(name, slate_size=2, **_kwargs(name, sim_dir)), seed=7)
    c = _rollout(envs.make(name, slate_size=2, **_kwargs(name, sim_dir)), seed=8)
    assert _same(a, b)
    assert not _same(a, c)


@pytest.mark.parametrize("name", SIMULATORS)
def test_pickle_round_trip_continues_identically(name, sim_dir):
    env = envs.make(name, **_kwargs(name, sim_dir))
    env.reset(seed=3)
    env.step(1)
    clone = pickle.loads(pickle.dumps(env))
    for a in (2, 5, 9, 4):
        x, y = env.step(a), clone.step(a)
        assert _same(list(x), list(y))
        if x[2] or x[3]:
            break


@pytest.mark.parametrize("name", ["mtrec/UserSession-v0", "mtrec/GroundTruthWorld-v0"])
def test_invalid_actions_get_clear_errors(name, sim_dir):
    env = envs.make(name, **_kwargs(name, sim_dir))
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="outside the catalogue 0..999"):
        env.step(1000)
    with pytest.raises(InvalidActionError, match="outside the catalogue"):
        env.step(-1)
    with pytest.raises(InvalidActionError, match="integer item ids"):
        env.step(1.5)
    with pytest.raises(InvalidActionError, match="shape"):
        env.step([1, 2])
    slate = envs.make(name, slate_size=3, **_kwargs(name, sim_dir))
    slate.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"shape \(3,\)"):
        slate.step([1, 2])


def test_gymnasium_ids_make_and_make_vec(sim_dir):
    env = gym.make("mtrec/UserSession-v0", artifact=str(sim_dir))
    env.reset(seed=0)
    venv = gym.make_vec("mtrec/GroundTruthWorld-v0", num_envs=4, vectorization_mode="vector_entry_point",
                        observer=str(sim_dir))
    assert isinstance(venv, GroundTruthWorldVectorEnv)
    assert venv.reset(seed=0)[0].shape == (4, env.observation_space.shape[0])


def test_user_session_refuses_true_satisfaction(sim_dir):
    with pytest.raises(ConfigError, match="only the ground-truth world"):
        envs.make("mtrec/UserSession-v0", artifact=str(sim_dir), reward="satisfaction")
    env = envs.make("mtrec/GroundTruthWorld-v0", reward="satisfaction", slate_size=1)
    env.reset(seed=0)
    rewards, sats = [], []
    for _ in range(40):
        _, r, term, trunc, info = env.step(env.action_space.sample())
        rewards.append(r)
        sats.append(info["response"]["satisfaction"])
        if term or trunc:
            env.reset()
    assert np.allclose(rewards, sats)


def test_world_env_truncates_at_its_cap():
    env = envs.make("mtrec/GroundTruthWorld-v0", max_session_len=3,
                    world_overrides={"leave_intercept": -20.0})
    env.reset(seed=0)
    flags = [env.step(i)[2:4] for i in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]


@pytest.mark.parametrize("kind", ["user_session", "world"])
def test_vector_env_next_step_autoreset_and_observer_parity(kind, sim_dir):
    if kind == "user_session":
        venv = UserSessionVectorEnv(num_envs=16, artifact=str(sim_dir), slate_size=2)
    else:
        venv = GroundTruthWorldVectorEnv(num_envs=16, slate_size=2, observer=str(sim_dir))
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    obs, _ = venv.reset(seed=0)
    assert venv.observation_space.contains(obs)
    done_before = np.zeros(16, bool)
    seen_reset = False
    for _ in range(60):
        obs, rew, term, trunc, info = venv.step(venv.action_space.sample())
        assert venv.observation_space.contains(obs)
        # Sub-envs that ended last step were reset: zero reward, masked response.
        assert np.all(rew[done_before] == 0) and not info["_response"][done_before].any()
        assert not (term & done_before).any()
        seen_reset |= done_before.any()
        ref = venv.core.observer.observe(venv.core.histories)
        np.testing.assert_allclose(obs, ref, atol=1e-5)
        done_before = term | trunc
    assert seen_reset


def test_vector_env_is_deterministic(sim_dir):
    def run(seed: int) -> list:
        venv = UserSessionVectorEnv(num_envs=8, artifact=str(sim_dir))
        out = [venv.reset(seed=seed)[0]]
        rng = np.random.default_rng(0)
        for _ in range(20):
            out.append(venv.step(rng.integers(0, venv.n_items, size=8))[:4])
        return out

    assert _same(run(1), run(1))
    assert not _same(run(1), run(2))

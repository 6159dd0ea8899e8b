"""The simulator registry: names, errors, the plug-in protocol and its three routes."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import envs
from envs import registry
from envs.registry import SimulatorError, check_simulator

EXAMPLE = "examples.custom_simulator:TopicSim"


@pytest.fixture
def clean_registry():
    """Snapshot and restore the registry around a test."""
    saved = dict(registry._REGISTRY)
    loaded = registry._ENTRY_POINTS_LOADED
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)
    registry._ENTRY_POINTS_LOADED = loaded


def test_builtins_are_registered_with_registry_and_gymnasium():
    assert {"mtrec/UserSession-v0", "mtrec/GroundTruthWorld-v0"} <= set(envs.names())
    assert "mtrec/GroundTruthWorld-v0" in gym.registry
    assert "mtrec/UserSession-v0" in gym.registry
    rows = {r["name"]: r for r in registry.describe()}
    assert rows["mtrec/UserSession-v0"]["source"] == "builtin"


def test_duplicate_name_is_refused_and_lists_known(clean_registry):
    envs.register("test/Dup-v0", EXAMPLE)
    with pytest.raises(SimulatorError, match="already registered.*test/Dup-v0"):
        envs.register("test/Dup-v0", EXAMPLE)
    envs.register("test/Dup-v0", EXAMPLE, overwrite=True)


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(SimulatorError) as exc:
        envs.make("nope/Missing-v0")
    msg = str(exc.value)
    assert "unknown simulator 'nope/Missing-v0'" in msg
    assert "mtrec/UserSession-v0" in msg and "mtrec/GroundTruthWorld-v0" in msg


def test_bad_factories_are_refused(clean_registry):
    with pytest.raises(SimulatorError, match="callable or a 'module:Factory'"):
        envs.register("test/Bad-v0", 42)  # type: ignore[arg-type]  # deliberately wrong
    with pytest.raises(SimulatorError, match="module:Factory"):
        envs.register("test/Bad-v0", "no_colon_here")

    class NoStep:
        def reset(self, **kw: Any) -> None: ...

    with pytest.raises(SimulatorError, match="missing method.*step"):
        envs.register("test/NoStep-v0", NoStep)
    with pytest.raises(SimulatorError, match="cannot import module"):
        envs.make("not_a_module_xyz:Env")
    with pytest.raises(SimulatorError, match="has no attribute"):
        envs.make("examples.custom_simulator:Nope")


class _NoCatalogue(gym.Env):
    """Breaks the protocol: no n_items and a Dict observation space."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Dict({"x": gym.spaces.Discrete(2)})
        self.action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):  # noqa: ANN001, ANN202 - gym signature
        super().reset(seed=seed)
        return {"x": 0}, {}

    def step(self, action):  # noqa: ANN001, ANN202 - gym signature
        return {"x": 0}, 0.0, False, False, {}


class _NoResponse(gym.Env):
    """Static protocol fine, but step() reports no response fields."""

    def __init__(self) -> None:
        self.n_items = 3
        self.observation_space = gym.spaces.Box(0, 1, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):  # noqa: ANN001, ANN202 - gym signature
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):  # noqa: ANN001, ANN202 - gym signature
        return np.zeros(2, np.float32), 0.0, False, False, {"response": {"click": 1}}


def test_protocol_breakers_are_refused_naming_what_is_missing(clean_registry):
    envs.register("test/NoCatalogue-v0", _NoCatalogue)
    with pytest.raises(SimulatorError) as exc:
        envs.make("test/NoCatalogue-v0")
    assert "n_items" in str(exc.value) and "observation_space must be a fixed-shape Box" in str(exc.value)
    envs.register("test/NoResponse-v0", _NoResponse)
    env = envs.make("test/NoResponse-v0")  # the static part passes
    with pytest.raises(SimulatorError, match="missing field.*clicked_item.*watch_ratio.*watch_time.*leave"):
        check_simulator(env)


def test_route_python_register(clean_registry):
    from examples.custom_simulator import TopicSim, make_topic_sim

    envs.register("example/TopicSim-v0", TopicSim)
    envs.register("example/TopicSimFn-v0", make_topic_sim)
    for name in ("example/TopicSim-v0", "example/TopicSimFn-v0"):
        env = envs.make(name, slate_size=2)
        check_simulator(env, name=name)


def test_route_module_path_string():
    env = envs.make(EXAMPLE, n_items=50)
    check_simulator(env)
    assert env.n_items == 50


class _FakeDist:
    name = "fake-plugin-dist"


def _fake_entry_points(group: str | None = None, **kw: Any) -> list[importlib.metadata.EntryPoint]:
    if group != registry.ENTRY_POINT_GROUP:
        return []
    ep = importlib.metadata.EntryPoint(name="example/TopicSimEP-v0", value=EXAMPLE, group=group)
    return [ep]


def test_route_entry_point(clean_registry, monkeypatch):
    monkeypatch.setattr(importlib.metadata, "entry_points", _fake_entry_points)
    registry._ENTRY_POINTS_LOADED = False
    assert "example/TopicSimEP-v0" in envs.names()
    assert registry.spec("example/TopicSimEP-v0").source.startswith("entry-point")
    env = envs.make("example/TopicSimEP-v0")
    check_simulator(env)


def test_make_vec_falls_back_to_sync_vector_env():
    venv = envs.make_vec(EXAMPLE, num_envs=3, n_items=30)
    assert isinstance(venv, gym.vector.SyncVectorEnv)
    obs, _ = venv.reset(seed=0)
    assert obs.shape[0] == 3

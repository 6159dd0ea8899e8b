"""A custom simulator plugged in by each route, then one PPO iteration on it."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

import envs
from envs import registry
from mtrec_ray.rl.config import RLConfig
from mtrec_ray.rl.train import train_policy

EXAMPLE = "examples.custom_simulator:TopicSim"


@pytest.fixture
def clean_registry():
    saved = dict(registry._REGISTRY)
    loaded = registry._ENTRY_POINTS_LOADED
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)
    registry._ENTRY_POINTS_LOADED = loaded


def _entry_points(group: str | None = None, **kw: Any) -> list[importlib.metadata.EntryPoint]:
    if group != registry.ENTRY_POINT_GROUP:
        return []
    return [importlib.metadata.EntryPoint(name="example/TopicSimEP-v0", value=EXAMPLE, group=group)]


def _register_python() -> str:
    from examples.custom_simulator import TopicSim

    envs.register("example/TopicSimPy-v0", TopicSim)
    return "example/TopicSimPy-v0"


@pytest.mark.parametrize("route", ["python", "module_path", "entry_point"])
def test_custom_simulator_trains_by_each_route(route, ray_session, clean_registry, monkeypatch, tmp_path):
    if route == "python":
        name = _register_python()
    elif route == "module_path":
        name = EXAMPLE
    else:
        monkeypatch.setattr(importlib.metadata, "entry_points", _entry_points)
        registry._ENTRY_POINTS_LOADED = False
        name = "example/TopicSimEP-v0"
        assert name in envs.names()
    cfg = RLConfig.smoke(name=name, kwargs={"n_items": 40, "slate_size": 2})
    # The entry-point route samples in a remote env runner (the registration must reach it);
    # the others sample in the driver to keep the suite fast.
    cfg.runners.num_env_runners = 1 if route == "entry_point" else 0
    result = train_policy(cfg, out_dir=tmp_path / route, quiet=True)
    assert result.iterations == 1
    row = result.metrics[0]
    assert row["env_steps_sampled_lifetime"] >= cfg.ppo.train_batch_size * 0.9
    assert row["episode_return_mean"] is not None and row["episode_return_mean"] > 0
    assert (result.checkpoint / "learner_group").exists()

"""RLlib glue: simulators under their registry names, PPO runs, policies as recommenders.

- ``RLConfig`` (``mtrec_ray.rl.config``): the typed run configuration;
- ``train_policy(config, out_dir=...)`` (``mtrec_ray.rl.train``): PPO on the new API
  stack in any registered simulator, with checkpoints and resume;
- ``PolicyRecommender.load(run_dir)`` (``mtrec_ray.rl.policy``): the trained policy
  behind the ``Recommender`` interface;
- ``RewardFunction`` and the built-in rewards (``mtrec_ray.rl.rewards``, Ray-free).

Importing this package imports neither Ray nor torch; the names above load lazily.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "RLConfig": "mtrec_ray.rl.config",
    "PPOSettings": "mtrec_ray.rl.config",
    "RunnersConfig": "mtrec_ray.rl.config",
    "SimulatorSpecConfig": "mtrec_ray.rl.config",
    "TrainResult": "mtrec_ray.rl.train",
    "train_policy": "mtrec_ray.rl.train",
    "load_rl_config": "mtrec_ray.rl.train",
    "PolicyRecommender": "mtrec_ray.rl.policy",
    "register_rllib_env": "mtrec_ray.rl.envs",
    "RewardFunction": "mtrec_ray.rl.rewards",
    "RewardContext": "mtrec_ray.rl.rewards",
    "resolve_reward": "mtrec_ray.rl.rewards",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mtrec_ray.rl' has no attribute {name!r}")

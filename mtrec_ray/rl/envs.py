"""The simulator registry, exposed to RLlib under the same names.

``register_rllib_env(name)`` calls ``ray.tune.registry.register_env`` with a creator
that builds the simulator from its registry spec: a plain env when RLlib asks for one,
the simulator's batched vector env when it asks for ``num_envs`` (what
``gym_env_vectorize_mode="vector_entry_point"`` does). The creator carries the spec
itself, so simulators registered only in the driver (``envs.register`` in a script or
a test) reach the env runners too.
"""

from __future__ import annotations

from typing import Any

import envs.registry as sim_registry


def _creator(spec: sim_registry.SimulatorSpec):  # noqa: ANN202 - RLlib env creator
    def create(env_config: Any) -> Any:
        try:
            import torch

            torch.set_num_threads(1)
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
        kwargs = dict(env_config or {})
        num_envs = kwargs.pop("num_envs", None)
        if num_envs is None:
            env = spec.load_factory()(**kwargs)
            sim_registry._check_static(env, spec.name)
            return env
        vf = spec.load_vector_factory()
        if vf is not None:
            return vf(num_envs=int(num_envs), **kwargs)
        import gymnasium as gym

        factory = spec.load_factory()
        return gym.vector.SyncVectorEnv([lambda: factory(**kwargs) for _ in range(int(num_envs))])

    return create


def register_rllib_env(name: str) -> str:
    """Register simulator ``name`` (a registry name or ``module:Factory``) with RLlib.

    Returns:
        The name to pass to ``AlgorithmConfig.environment(env=...)``.

    Raises:
        SimulatorError: unknown name (the message lists the registered ones).
    """
    from ray.tune.registry import register_env

    spec = sim_registry.spec(name)
    register_env(name, _creator(spec))
    return name


def register_rllib_envs() -> list[str]:
    """Register every simulator of the registry with RLlib; return their names."""
    return [register_rllib_env(n) for n in sim_registry.names()]

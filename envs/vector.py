"""Batched vector envs: B simulated users stepped by one numpy call, for RLlib env runners.

``BatchedVectorEnv`` turns a *batch core* (the engine behind a simulator, stepping B
users at once) into a ``gymnasium.vector.VectorEnv`` with next-step autoreset (the mode
Gymnasium's own vector envs and RLlib's ``SingleAgentEnvRunner`` use): after a
sub-env's episode ends, the next ``step`` resets it, ignores its action and returns its
first observation with reward 0.

RLlib builds one through ``num_envs_per_env_runner = B`` together with
``gym_env_vectorize_mode="vector_entry_point"`` (``mtrec_ray.rl`` sets both); then the
whole batch of users is simulated in one call instead of B Python env steps.

A batch core provides ``batch_size``, ``n_items``, ``observer`` (with
``observation_space``), ``reset_rows(rows, rng)``, ``observe() -> [B, D]``,
``step(slates [B, K], rng, active [B]) -> (response dict of [B] arrays, RewardContext)``
and ``end_flags(leave) -> (terminated [B], truncated [B])``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector.utils import batch_space

from envs.user_session import (
    UserModel,
    UserSessionCore,
    action_space_for,
    load_user_model,
    validate_actions,
)
from mtrec_ray.errors import ConfigError
from mtrec_ray.rl.rewards import RewardFunction, resolve_reward


class BatchedVectorEnv(gym.vector.VectorEnv):
    """A vector env over a batch core (next-step autoreset, dict infos).

    ``infos["response"]`` holds the batched response fields; ``infos["_response"]``
    masks out sub-envs that were reset in this step.
    """

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}

    def __init__(self, *, core: Any, slate_size: int, reward_fn: RewardFunction) -> None:
        self.core = core
        self.num_envs = int(core.batch_size)
        self.n_items = int(core.n_items)
        self.slate_size = int(slate_size)
        self.reward_fn = reward_fn
        self.history_observer = core.observer
        self.single_observation_space = core.observer.observation_space
        self.single_action_space = action_space_for(self.n_items, self.slate_size)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._np_random, self._np_random_seed = seeding.np_random(None)

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every sub-env (or those in ``options["reset_mask"]``)."""
        if isinstance(seed, (list, tuple)):
            seeds = [s for s in seed if s is not None]
            seed = int(np.random.SeedSequence(seeds).generate_state(1)[0]) if seeds else None
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
        mask = None if options is None else options.get("reset_mask")
        rows = np.arange(self.num_envs) if mask is None else np.flatnonzero(np.asarray(mask, bool))
        self.core.reset_rows(rows, self._np_random)
        self._autoreset[rows] = False
        return self.core.observe(), {}

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step all sub-envs; those that ended last step are reset instead."""
        slates = validate_actions(actions, n_items=self.n_items, slate_size=self.slate_size, batch=self.num_envs)
        prev = self._autoreset
        response, ctx = self.core.step(slates, self._np_random, ~prev)
        rewards = np.asarray(self.reward_fn(ctx), dtype=np.float32).reshape(self.num_envs)
        terminated, truncated = self.core.end_flags(np.asarray(response["leave"], dtype=bool))
        if prev.any():
            rows = np.flatnonzero(prev)
            self.core.reset_rows(rows, self._np_random)
            rewards[rows] = 0.0
            terminated[rows] = False
            truncated[rows] = False
        self._autoreset = terminated | truncated
        infos = {"response": response, "_response": ~prev}
        return self.core.observe(), rewards, terminated, truncated, infos


class UserSessionVectorEnv(BatchedVectorEnv):
    """``num_envs`` users of ``UserSessionEnv`` (same arguments) stepped as one batch.

    ## Version history
    v0: initial release.
    """

    def __init__(
        self,
        *,
        num_envs: int,
        artifact: str | Path | UserModel,
        slate_size: int = 1,
        max_session_len: int | None = None,
        reward: str | RewardFunction | None = "click",
        **_ignored: Any,
    ) -> None:
        if num_envs < 1:
            raise ConfigError(f"num_envs must be >= 1, got {num_envs}")
        model = load_user_model(artifact)
        reward_fn = resolve_reward(reward)
        if reward_fn.requires_true_satisfaction:
            raise ConfigError(
                f"reward {reward_fn.name!r} needs the true satisfaction, which only the "
                "ground-truth world knows"
            )
        core = UserSessionCore(
            model=model, batch_size=num_envs,
            max_session_len=int(max_session_len or model.config.max_session_len),
        )
        super().__init__(core=core, slate_size=slate_size, reward_fn=reward_fn)


class GroundTruthWorldVectorEnv(BatchedVectorEnv):
    """``num_envs`` users of ``GroundTruthWorldEnv`` (same arguments) stepped as one batch.

    ## Version history
    v0: initial release.
    """

    def __init__(self, *, num_envs: int, **kwargs: Any) -> None:
        from envs.world_env import make_world_core

        if num_envs < 1:
            raise ConfigError(f"num_envs must be >= 1, got {num_envs}")
        kwargs.pop("render_mode", None)
        core, slate_size, reward_fn = make_world_core(batch_size=num_envs, **kwargs)
        super().__init__(core=core, slate_size=slate_size, reward_fn=reward_fn)

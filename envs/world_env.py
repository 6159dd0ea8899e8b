"""``GroundTruthWorldEnv``: the ground-truth world behind the user-simulator interface.

The same interface as ``UserSessionEnv`` (observation from interaction histories,
one item or a slate as action, the response in ``info``), so a policy trained in the
log-fitted simulator can be deployed here unchanged when both use the same history
observer (pass the simulator artifact as ``observer``). Unlike the fitted simulator,
the world knows each consumed item's true satisfaction, so the ``satisfaction`` reward
is available.

Adapter note: ``GroundTruthWorld`` has no per-row reset; this module starts new users
in finished rows by calling ``reset_batch`` for those users and copying the new rows
into the batch state's arrays (every ``BatchState`` field with a leading batch axis).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from envs.ground_truth_world import BatchState, GroundTruthWorld, load_world_spec, world_config
from envs.user_session import (
    HistoryObserver,
    HistoryTracker,
    SingleSessionEnv,
    action_space_for,
    load_user_model,
)
from mtrec_ray.errors import ConfigError
from mtrec_ray.recommenders import Histories
from mtrec_ray.rl.rewards import RewardContext, RewardFunction, resolve_reward


def make_observer(observer: str | Path | HistoryObserver | None, *, n_items: int,
                  history_len: int = 20, seed: int = 0) -> HistoryObserver:
    """The history observer: a fitted simulator's (artifact path), given, or random."""
    if isinstance(observer, HistoryObserver):
        obs = observer
    elif observer is None or observer == "random":
        obs = HistoryObserver.random(n_items=n_items, history_len=history_len, seed=seed)
    else:
        obs = load_user_model(observer).observer
    if obs.n_items != n_items:
        raise ConfigError(
            f"the observer covers {obs.n_items} items but the world has {n_items}; fit the "
            "simulator on logs of this world"
        )
    return obs


class WorldCore:
    """B users of the ground-truth world in single-session episodes (a batch core)."""

    has_true_satisfaction = True

    def __init__(self, *, world: GroundTruthWorld, observer: HistoryObserver, batch_size: int,
                 max_session_len: int, user_pool: np.ndarray | None = None) -> None:
        self.world = world
        self.observer = observer
        self.batch_size = int(batch_size)
        self.n_items = world.n_items
        self.max_session_len = int(min(max_session_len, world.config.max_session_len))
        self.user_pool = (np.arange(world.n_users) if user_pool is None
                          else np.asarray(user_pool, dtype=np.int64))
        if self.user_pool.size == 0:
            raise ConfigError("user_ids must name at least one user")
        self.tracker = HistoryTracker(observer, self.batch_size)
        self.state: BatchState | None = None

    @property
    def histories(self) -> Histories:
        """The users' current histories (as the platform records them)."""
        return self.tracker.histories

    def reset_rows(self, rows: np.ndarray, rng: np.random.Generator) -> None:
        """Start a fresh session of a newly sampled user in each of ``rows``."""
        if rows.size == 0:
            return
        if self.state is None or rows.size == self.batch_size:
            rows = np.arange(self.batch_size)
            users = self.user_pool[rng.integers(0, self.user_pool.size, size=rows.size)]
            self.state = self.world.reset_batch(users, rng, horizon_days=None)
        else:
            users = self.user_pool[rng.integers(0, self.user_pool.size, size=rows.size)]
            self._copy_rows(self.world.reset_batch(users, rng, horizon_days=None), rows)
        self.tracker.set_rows(rows)

    def _copy_rows(self, sub: BatchState, rows: np.ndarray) -> None:
        assert self.state is not None
        for f in dataclasses.fields(BatchState):
            dst = getattr(self.state, f.name)
            if isinstance(dst, np.ndarray) and dst.shape[:1] == (self.batch_size,):
                dst[rows] = getattr(sub, f.name)

    def observe(self) -> np.ndarray:
        """Observations [B, obs_dim]."""
        return self.tracker.observe()

    def step(self, slate: np.ndarray, rng: np.random.Generator,
             active: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], RewardContext]:
        """Show ``slate`` [B, K] to the active users; responses as [B] arrays."""
        assert self.state is not None, "reset before step"
        if active is not None:
            self.state.active &= active
        b = self.batch_size
        before = self.tracker.snapshot()
        resp, self.state = self.world.step_batch(self.state, slate)
        r = resp.rows
        response = {
            "click": np.zeros(b, np.int8),
            "clicked_item": np.full(b, -1, np.int64),
            "position": np.full(b, -1, np.int64),
            "watch_ratio": np.zeros(b, np.float32),
            "watch_time": np.zeros(b, np.float32),
            "leave": np.zeros(b, bool),
            "satisfaction": np.zeros(b, np.float32),
            "expected_satisfaction": np.zeros(b, np.float32),
        }
        clicked = resp.clicked_position >= 0
        response["click"][r] = clicked
        response["clicked_item"][r] = resp.clicked_item
        response["position"][r] = resp.clicked_position
        response["watch_ratio"][r] = resp.watch_ratio
        response["watch_time"][r] = resp.watch_time
        response["leave"][r] = resp.leave
        response["satisfaction"][r] = np.where(clicked, np.nan_to_num(resp.satisfaction), 0.0)
        response["expected_satisfaction"][r] = np.where(clicked, np.nan_to_num(resp.expected_satisfaction), 0.0)
        stepped = np.zeros(b, bool)
        stepped[r] = True
        self.tracker.record(response["clicked_item"], response["watch_ratio"], stepped)
        return response, RewardContext(histories=before, slate=slate, response=response)

    def end_flags(self, leave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(terminated, truncated) per row: a leave is a truncation when the cap ended it."""
        cap = self.histories.session_step >= self.max_session_len
        if self.state is not None:
            self.state.active[cap] = False
        return leave & ~cap, cap


def make_world_core(
    *,
    batch_size: int,
    world_dir: str | Path | None = None,
    preset: str = "default",
    world_seed: int = 0,
    world_overrides: dict[str, Any] | None = None,
    slate_size: int = 1,
    max_session_len: int | None = None,
    reward: str | RewardFunction | None = "click",
    observer: str | Path | HistoryObserver | None = None,
    history_len: int = 20,
    observer_seed: int = 0,
    user_ids: list[int] | np.ndarray | None = None,
) -> tuple[WorldCore, int, RewardFunction]:
    """Build the world's batch core, its slate size and reward function from env kwargs."""
    if world_dir:
        if world_overrides:
            raise ConfigError("world_overrides cannot change a saved world (world_dir); drop one of them")
        world = load_world_spec(world_dir)
    else:
        world = GroundTruthWorld(config=world_config(preset, **dict(world_overrides or {})), seed=world_seed)
    config = world.config
    obs = make_observer(observer, n_items=world.n_items, history_len=history_len, seed=observer_seed)
    k = int(slate_size)
    core = WorldCore(world=world, observer=obs, batch_size=batch_size,
                     max_session_len=int(max_session_len or config.max_session_len),
                     user_pool=None if user_ids is None else np.asarray(user_ids))
    return core, k, resolve_reward(reward)


class GroundTruthWorldEnv(SingleSessionEnv):
    """One session of one user of the ground-truth world.

    ## Description
    The synthetic platform of ``envs.ground_truth_world`` (users with a hidden mental
    reward; clicks driven by relevance, bait and position; watch time by satisfaction
    and duration; leaving by mood and satisfaction). Each episode samples a user and
    runs one session from an empty history.

    ## Observation space
    ``Box(hidden + 6)``, float32: the history observer's encoding of the consumed items
    and session statistics (the same layout as ``UserSessionEnv``). With
    ``observer=ARTIFACT_DIR`` it is exactly the fitted simulator's observation.

    ## Action space
    ``Discrete(n_items)`` when ``slate_size == 1`` (the default), else
    ``MultiDiscrete([n_items] * K)`` (the world's logs use K = 5). Invalid actions raise
    ``InvalidActionError``.

    ## Reward
    ``click`` (default), ``watch_time`` (minutes), ``watch_ratio``, ``satisfaction``
    (true realised satisfaction of the consumed item, 0 without a click),
    ``mental:MODEL_DIR``, or ``module:Factory``.

    ## Starting state
    A user drawn uniformly (from ``user_ids`` if given), empty history, mood 0.

    ## Episode end
    Terminated when the user leaves; truncated at ``max_session_len`` slates (at most
    the world's own cap). ``info["response"]`` carries click, clicked_item, position,
    watch_ratio, watch_time, leave, satisfaction and expected_satisfaction (0 without a
    click).

    ## Arguments
    ``world_dir`` (a world directory or prepared world data set: its exact world),
    ``preset`` ("default"), ``world_seed`` (0), ``world_overrides`` (WorldConfig
    fields), ``slate_size`` (1), ``max_session_len``, ``reward`` ("click"), ``observer``
    (fitted simulator directory, or None for a fixed random observer), ``history_len``
    and ``observer_seed`` (random observer only), ``user_ids``.

    ## Version history
    v0: initial release.
    """

    has_true_satisfaction = True

    def __init__(self, *, render_mode: str | None = None, **kwargs: Any) -> None:
        core, k, reward_fn = make_world_core(batch_size=1, **kwargs)
        self.core = core
        self.world = core.world
        self.n_items = core.n_items
        self.slate_size = k
        self.reward_fn = reward_fn
        self.max_session_len = core.max_session_len
        self.history_observer = core.observer
        self.observation_space = core.observer.observation_space
        self.action_space = action_space_for(self.n_items, k)
        self._set_render_mode(render_mode)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.core.state = None
        self.core.reset_rows(np.zeros(1, np.int64), self.np_random)
        self._last = {}
        assert self.core.state is not None
        return self.core.observe()[0], {"user_id": int(self.core.state.user_ids[0]), "session_step": 0}

    def _check_can_step(self) -> None:
        assert self.core.state is not None, "call reset() before step()"
        if not self.core.state.active[0]:
            raise RuntimeError("the session has ended; call reset() before step()")

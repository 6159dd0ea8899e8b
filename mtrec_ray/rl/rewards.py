"""Reward functions for the user simulators: the one interface and the built-in rewards.

A reward function scores one simulator step for a batch of users: what the user had
consumed before (``Histories``), the slate shown and the user's response. It returns one
float per user. The simulators call it with a batch of 1 (single env) or B (vector env)::

    class RewardFunction(Protocol):
        name: str
        requires_true_satisfaction: bool   # only the ground-truth world can serve it
        def __call__(self, ctx: RewardContext) -> np.ndarray: ...   # float32 [B]

Built-in rewards (by name): ``click`` (1 per click), ``watch_time`` (minutes watched),
``watch_ratio`` (fraction watched), ``satisfaction`` (the hidden true satisfaction of
the consumed item: ground-truth world only) and ``mental:MODEL_DIR`` (the learned mental
reward model of the IRL step: any object implementing this protocol, or with
``score(histories, items) -> [B]`` which :class:`ItemScoreReward` adapts). A
``module.path:Factory`` string builds a custom one.

This module is Ray-free: the simulators in ``envs/`` import it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mtrec_ray.errors import ConfigError
from mtrec_ray.recommenders import Histories


@dataclass
class RewardContext:
    """Everything a reward may read about one batched simulator step."""

    histories: Histories
    """The users' histories *before* this step (state s)."""
    slate: np.ndarray
    """int64 [B, K]: the items shown (K = 1 for single-item actions)."""
    response: Mapping[str, np.ndarray]
    """Batched response: click, clicked_item (-1 = none), position, watch_ratio,
    watch_time (seconds), leave, and satisfaction (NaN unless the world knows it)."""

    @property
    def clicked_item(self) -> np.ndarray:
        """int64 [B]: the consumed item, -1 when nothing was clicked."""
        return np.asarray(self.response["clicked_item"], dtype=np.int64)


@runtime_checkable
class RewardFunction(Protocol):
    """Scores a batch of simulator steps; see the module docstring."""

    name: str
    requires_true_satisfaction: bool

    def __call__(self, ctx: RewardContext) -> np.ndarray:
        """Return float32 [B] rewards."""
        ...


class ClickReward:
    """1.0 when the user clicks an item of the slate, else 0."""

    name = "click"
    requires_true_satisfaction = False

    def __call__(self, ctx: RewardContext) -> np.ndarray:
        return np.asarray(ctx.response["click"], dtype=np.float32)


class WatchTimeReward:
    """Time watched, in minutes by default (``scale`` seconds per unit)."""

    requires_true_satisfaction = False

    def __init__(self, *, scale: float = 60.0) -> None:
        self.name = "watch_time"
        self.scale = float(scale)

    def __call__(self, ctx: RewardContext) -> np.ndarray:
        return (np.asarray(ctx.response["watch_time"], dtype=np.float32) / self.scale).astype(np.float32)


class WatchRatioReward:
    """Fraction of the consumed item watched (0 without a click)."""

    name = "watch_ratio"
    requires_true_satisfaction = False

    def __call__(self, ctx: RewardContext) -> np.ndarray:
        click = np.asarray(ctx.response["click"], dtype=np.float32)
        return (np.asarray(ctx.response["watch_ratio"], dtype=np.float32) * click).astype(np.float32)


class SatisfactionReward:
    """The hidden true satisfaction of the consumed item (0 without a click).

    Only the ground-truth world knows it; the log-fitted simulator refuses this reward.
    """

    name = "satisfaction"
    requires_true_satisfaction = True

    def __call__(self, ctx: RewardContext) -> np.ndarray:
        sat = np.asarray(ctx.response["satisfaction"], dtype=np.float32)
        click = np.asarray(ctx.response["click"], dtype=np.float32) > 0
        return np.where(click, np.nan_to_num(sat), 0.0).astype(np.float32)


class ItemScoreReward:
    """Adapts a model with ``score(histories, items) -> [B]`` (e.g. a mental reward's mean).

    The consumed item is scored in the pre-step state; a step without a click earns
    ``no_click_reward``.
    """

    requires_true_satisfaction = False

    def __init__(self, scorer: Any, *, name: str = "mental", no_click_reward: float = 0.0) -> None:
        if not callable(getattr(scorer, "score", None)):
            raise ConfigError(f"{type(scorer).__name__} has no score(histories, items) method")
        self.scorer = scorer
        self.name = name
        self.no_click_reward = float(no_click_reward)

    def __call__(self, ctx: RewardContext) -> np.ndarray:
        item = ctx.clicked_item
        out = np.full(item.shape, self.no_click_reward, dtype=np.float32)
        rows = np.flatnonzero(item >= 0)
        if rows.size:
            scores = self.scorer.score(ctx.histories.select(rows), item[rows])
            out[rows] = np.asarray(scores, dtype=np.float32).reshape(-1)
        return out


BUILTIN_REWARDS = ("click", "watch_time", "watch_ratio", "satisfaction", "mental:MODEL_DIR")
"""Reward specs accepted by :func:`resolve_reward` besides ``module:Factory``."""


def load_mental_reward(path: str | Path) -> RewardFunction:
    """Load ``mtrec irl``'s mental reward model from ``path`` as a reward function.

    The consumed item's mean mental reward in the pre-step state (0 without a click),
    through ``mtrec_ray.irl.scoring.MentalRewardScorer`` (which rebuilds the history
    features the model was trained with).
    """
    from mtrec_ray.irl.scoring import MentalRewardScorer

    return MentalRewardScorer.load(path).as_reward_function()


def resolve_reward(spec: str | RewardFunction | None, **kwargs: Any) -> RewardFunction:
    """A reward function from a spec: a name, ``mental:DIR``, ``module:Factory`` or an object.

    Raises:
        ConfigError: unknown name (listing the known ones) or an object that breaks the
            protocol.
    """
    if spec is None or spec == "click":
        return ClickReward()
    if not isinstance(spec, str):
        if isinstance(spec, RewardFunction):
            return spec
        raise ConfigError(
            f"{type(spec).__name__} is not a reward function: it needs a 'name', "
            "'requires_true_satisfaction' and __call__(ctx) -> float array"
        )
    if spec == "watch_time":
        return WatchTimeReward(**kwargs)
    if spec == "watch_ratio":
        return WatchRatioReward()
    if spec == "satisfaction":
        return SatisfactionReward()
    if spec.startswith("mental:"):
        return load_mental_reward(spec[len("mental:") :])
    if ":" in spec:
        mod, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot load reward {spec!r}: {exc}") from exc
        return resolve_reward(factory(**kwargs))
    raise ConfigError(
        f"unknown reward {spec!r}; choose one of {', '.join(BUILTIN_REWARDS)} "
        "or a 'module.path:Factory' string"
    )

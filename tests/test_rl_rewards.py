"""Reward functions: built-ins, the item-score adapter, custom factories, errors."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_ray.errors import ConfigError
from mtrec_ray.recommenders import Histories
from mtrec_ray.rl.rewards import (
    ItemScoreReward,
    RewardContext,
    RewardFunction,
    resolve_reward,
)


def _ctx() -> RewardContext:
    resp = {
        "click": np.array([1, 0, 1], np.int8),
        "clicked_item": np.array([4, -1, 2]),
        "position": np.array([0, -1, 1]),
        "watch_ratio": np.array([0.5, 0.0, 1.0], np.float32),
        "watch_time": np.array([30.0, 0.0, 120.0], np.float32),
        "leave": np.array([False, True, False]),
        "satisfaction": np.array([0.7, 0.0, -1.2], np.float32),
    }
    return RewardContext(histories=Histories.empty(3, 4), slate=np.array([[4, 1], [5, 6], [7, 2]]), response=resp)


class _Scorer:
    def score(self, histories: Histories, items: np.ndarray) -> np.ndarray:
        return items.astype(float) * 10 + histories.batch_size


def test_builtin_rewards():
    ctx = _ctx()
    np.testing.assert_allclose(resolve_reward("click")(ctx), [1, 0, 1])
    np.testing.assert_allclose(resolve_reward("watch_time")(ctx), [0.5, 0, 2.0])
    np.testing.assert_allclose(resolve_reward("watch_ratio")(ctx), [0.5, 0, 1.0])
    sat = resolve_reward("satisfaction")
    assert sat.requires_true_satisfaction
    np.testing.assert_allclose(sat(ctx), [0.7, 0, -1.2], rtol=1e-6)
    for spec in ("click", "watch_time", "watch_ratio", "satisfaction"):
        assert isinstance(resolve_reward(spec), RewardFunction)


def test_item_score_adapter_scores_the_consumed_item_in_the_prior_state():
    r = ItemScoreReward(_Scorer(), no_click_reward=-0.5)
    np.testing.assert_allclose(r(_ctx()), [42, -0.5, 22])
    with pytest.raises(ConfigError, match="score"):
        ItemScoreReward(object())


def test_custom_factory_and_errors():
    r = resolve_reward("mtrec_ray.rl.rewards:WatchTimeReward", scale=1.0)
    np.testing.assert_allclose(r(_ctx()), [30, 0, 120])
    with pytest.raises(ConfigError, match="unknown reward 'likes'.*click"):
        resolve_reward("likes")
    with pytest.raises(ConfigError, match="cannot load reward"):
        resolve_reward("nowhere_mod:Thing")
    with pytest.raises(ConfigError, match="not a reward function"):
        resolve_reward(object())  # type: ignore[arg-type]  # deliberately wrong

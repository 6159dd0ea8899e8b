"""MTRec reward weighting: the transform's properties, risk-aware signals, reward_fn plumbing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtrec_ray.config import load_config
from mtrec_ray.errors import ConfigError
from mtrec_ray.recommenders import PAD, Histories
from mtrec_ray.seqrec.data import build_sequences
from mtrec_ray.seqrec.train import SeqRecConfig
from mtrec_ray.seqrec.weighting import (
    RewardScores,
    RewardWeightConfig,
    reward_signal,
    target_weights,
    transform_rewards,
)


@pytest.mark.parametrize("form", ["exp", "tanh"])
def test_weights_have_mean_one_and_follow_the_reward(form):
    r = np.random.default_rng(0).normal(size=500) * 3 + 7
    w = transform_rewards(r, RewardWeightConfig(signal="mean", form=form))
    assert w.mean() == pytest.approx(1.0, abs=1e-6)
    assert (w > 0).all()
    order = np.argsort(r)
    assert (np.diff(w[order]) >= -1e-7).all()  # monotone in the reward


def test_clipping_bounds_the_weight_ratio():
    r = np.array([-1000.0, 0.0, 0.1, 0.2, 1000.0])
    cfg = RewardWeightConfig(signal="mean", clip=0.5, temperature=0.1)
    w = transform_rewards(r, cfg)
    assert w.max() / w.min() == pytest.approx(np.exp(2 * 0.5), rel=1e-5)
    tanh = transform_rewards(r, RewardWeightConfig(signal="mean", form="tanh", alpha=0.5, clip=0.5))
    assert tanh.max() / tanh.min() <= (1 + 0.5 * np.tanh(0.5)) / (1 - 0.5 * np.tanh(0.5)) + 1e-6


def test_temperature_flattens_and_constant_rewards_give_unit_weights():
    r = np.linspace(-1, 1, 11)
    hot = transform_rewards(r, RewardWeightConfig(signal="mean", temperature=10.0))
    cold = transform_rewards(r, RewardWeightConfig(signal="mean", temperature=0.5))
    assert hot.std() < cold.std()
    assert transform_rewards(np.full(7, 3.0), RewardWeightConfig(signal="mean")).tolist() == [1.0] * 7


def test_risk_aware_signals_use_the_lower_tail():
    # item A: high mean but a bad lower tail; item B: lower mean, reliably good
    q = np.array([[-2.0, 0.0, 1.0, 4.0, 6.0], [0.5, 0.6, 0.7, 0.8, 0.9]])
    scores = RewardScores(mean=q.mean(1), cvar=None, quantiles=q)
    mean_w = transform_rewards(reward_signal(scores, RewardWeightConfig(signal="mean")), RewardWeightConfig())
    assert mean_w[0] > mean_w[1]
    for cfg in (RewardWeightConfig(signal="quantile", quantile_level=0.1), RewardWeightConfig(signal="cvar", cvar_level=0.2)):
        sig = reward_signal(scores, cfg)
        assert sig.tolist() == pytest.approx([-2.0, 0.5])  # the lowest atom (level 0.1) / worst 20%
        w = transform_rewards(sig, cfg)
        assert w[1] > w[0]
    given = RewardScores(mean=q.mean(1), cvar=np.array([5.0, -5.0]), quantiles=q)
    assert reward_signal(given, RewardWeightConfig(signal="cvar")).tolist() == [5.0, -5.0]  # provided CVaR wins
    with pytest.raises(ConfigError, match="quantiles"):
        reward_signal(RewardScores(mean=q.mean(1)), RewardWeightConfig(signal="quantile"))


def test_reward_fn_sees_histories_and_targets_in_train_state_order():
    events = pd.DataFrame({"user_id": 0, "item_id": [0, 1, 2, 3, 4, 5], "timestamp": range(6), "session_id": 0})
    data = build_sequences(events, max_len=3, n_items=6)
    seen = []

    def reward_fn(histories: Histories, targets: np.ndarray):
        seen.append((histories.items.copy(), targets.copy()))
        mean = targets.astype(float)  # reward = item id
        return mean, mean - 1, np.stack([mean - 1, mean, mean + 1], 1)

    w = target_weights(reward_fn, data.train_states(), RewardWeightConfig(signal="mean", batch_size=2), padding_id=6)
    items = np.concatenate([s[0] for s in seen])
    assert items.tolist() == [[PAD, PAD, 0], [PAD, 0, 1], [0, 1, 2]]  # -1 padding, oldest first
    assert np.concatenate([s[1] for s in seen]).tolist() == [1, 2, 3]
    assert w[0] < w[1] < w[2] and w.mean() == pytest.approx(1.0)
    arr = target_weights(np.array([1.0, 2.0, 3.0]), data.train_states(), RewardWeightConfig(signal="mean"), padding_id=6)
    np.testing.assert_allclose(arr, w, rtol=1e-6)
    with pytest.raises(ConfigError, match="align arrays"):
        target_weights(np.zeros(5), data.train_states(), RewardWeightConfig(signal="mean"), padding_id=6)


def test_config_from_yaml_and_validation(tmp_path):
    path = tmp_path / "mtrec_sasrec.yaml"
    path.write_text(
        "model: sasrec\nmax_epochs: 5\nsasrec: {dim: 32, num_heads: 2}\n"
        "reward: {signal: quantile, quantile_level: 0.2, temperature: 2.0, form: tanh, alpha: 0.4}\n"
    )
    cfg = load_config(SeqRecConfig, path, ["reward.clip=1.5"])
    assert cfg.sasrec.dim == 32 and cfg.reward.signal == "quantile" and cfg.reward.clip == 1.5
    assert cfg.reward.enabled
    with pytest.raises(ConfigError, match="known keys"):
        load_config(SeqRecConfig, None, ["reward.temprature=2"])
    with pytest.raises(ConfigError, match="alpha"):
        load_config(SeqRecConfig, None, ["reward.form=tanh", "reward.alpha=1.5"])

"""MTRec reward weighting: per-target loss weights from the learned mental reward.

The MTRec variant of a sequential recommender changes one thing: the cross-entropy of
each training target (item ``x`` consumed in state ``s``) is multiplied by a weight
computed from the mental reward ``rho(s, x)``. The transform, applied over all N
training targets at once:

1. **signal** ``r``: the reward's mean (``signal: mean``), its lower-tail CVaR
   (``cvar``) or one lower quantile (``quantile``, the atom nearest ``quantile_level``);
   the last two are the risk-aware variants, preferring items that reliably satisfy;
2. **normalise**: ``z = (r - mean(r)) / std(r)`` (all zeros when the std is 0);
3. **temperature and clip**: ``z = clip(z / temperature, -clip, clip)``;
4. **weight**: ``w = exp(z)`` (``form: exp``) or ``w = 1 + alpha * tanh(z)``
   (``form: tanh``, needs ``alpha < 1`` so weights stay positive);
5. **renormalise**: ``w = w / mean(w)``, so the average weight is 1 and the loss scale
   (hence the learning rate) is that of the unweighted model.

So ``exp`` bounds the ratio of the largest to the smallest weight by ``exp(2 * clip)``.

The reward comes from a ``reward_fn(histories, targets) -> (mean, cvar, quantiles)``
(``histories``: ``mtrec_ray.recommenders.Histories`` of the consumed items before each
target, oldest first, padding -1; ``targets``: int64 ``(B,)``), e.g. a thin wrapper of
``MentalRewardModel.score``, or from precomputed arrays aligned with
``SeqData.train_states()`` (``RewardScores`` or a ``(N,)`` / ``(N, Q)`` array).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mtrec_ray.errors import ConfigError
from mtrec_ray.recommenders import PAD, Histories


@dataclass
class RewardWeightConfig:
    """How the mental reward of a training target becomes its loss weight (MTRec)."""

    signal: Literal["none", "mean", "cvar", "quantile"] = "none"
    """Reward summary: none (plain model), mean, cvar or quantile (risk-aware)."""
    quantile_level: float = 0.1
    """Level of the quantile used when signal is quantile (nearest available atom)."""
    cvar_level: float = 0.1
    """CVaR level, used only when CVaR is computed here from raw quantile arrays."""
    temperature: float = 1.0
    """Divides the z-scored reward; larger means flatter weights."""
    clip: float = 2.0
    """The tempered z-score is clipped to [-clip, clip]."""
    form: Literal["exp", "tanh"] = "exp"
    """exp: w = exp(z); tanh: w = 1 + alpha * tanh(z)."""
    alpha: float = 0.5
    """Strength of the tanh form (in (0, 1))."""
    batch_size: int = 4096
    """Targets per reward_fn call."""

    def validate(self) -> None:
        """Check ranges; messages say how to fix the value."""
        if self.signal not in ("none", "mean", "cvar", "quantile"):
            raise ConfigError(f"reward.signal must be none, mean, cvar or quantile, got {self.signal!r}")
        if self.form not in ("exp", "tanh"):
            raise ConfigError(f"reward.form must be exp or tanh, got {self.form!r}")
        if not 0.0 < self.quantile_level < 1.0:
            raise ConfigError("reward.quantile_level must be in (0, 1), e.g. 0.1")
        if not 0.0 < self.cvar_level <= 1.0:
            raise ConfigError("reward.cvar_level must be in (0, 1], e.g. 0.1")
        if self.temperature <= 0:
            raise ConfigError("reward.temperature must be > 0 (try 1.0)")
        if self.clip <= 0:
            raise ConfigError("reward.clip must be > 0 (try 2.0)")
        if self.form == "tanh" and not 0.0 < self.alpha < 1.0:
            raise ConfigError("reward.alpha must be in (0, 1) with form tanh so weights stay positive")
        if self.batch_size < 1:
            raise ConfigError("reward.batch_size must be >= 1")

    @property
    def enabled(self) -> bool:
        """Whether the loss is reward-weighted."""
        return self.signal != "none"


@dataclass
class RewardScores:
    """Per-target reward summaries, aligned with the training targets."""

    mean: np.ndarray
    """``(N,)`` expected mental reward."""
    cvar: np.ndarray | None = None
    """``(N,)`` lower-tail CVaR (None if unknown)."""
    quantiles: np.ndarray | None = None
    """``(N, Q)`` quantiles, ascending (None if unknown)."""


RewardFn = Callable[[Histories, np.ndarray], Any]
"""``reward_fn(histories, targets) -> (mean, cvar, quantiles)`` (arrays or tensors)."""


def _np(x: Any) -> np.ndarray | None:
    if x is None:
        return None
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _quantile_levels(n: int) -> np.ndarray:
    return (2 * np.arange(n) + 1) / (2 * n)


def _cvar_from_quantiles(q: np.ndarray, level: float) -> np.ndarray:
    """Mean of the worst ``level`` share of mass of N equal-mass atoms."""
    q = np.sort(q, axis=-1)
    n = q.shape[-1]
    lo = np.arange(n) / n
    mass = np.clip(level - lo, 0.0, 1.0 / n)
    return (q * mass).sum(-1) / level


def scores_from_array(rewards: Any, *, cvar_level: float = 0.1) -> RewardScores:
    """``RewardScores`` from a ``(N,)`` array (mean only) or a ``(N, Q)`` quantile array."""
    a = _np(rewards)
    assert a is not None
    if a.ndim == 1:
        return RewardScores(mean=a)
    if a.ndim == 2:
        q = np.sort(a, axis=1)
        return RewardScores(mean=q.mean(1), cvar=_cvar_from_quantiles(q, cvar_level), quantiles=q)
    raise ConfigError(f"reward arrays must be (N,) or (N, Q), got shape {a.shape}")


def score_targets(
    reward_fn: RewardFn,
    items: np.ndarray,
    watch_ratios: np.ndarray,
    targets: np.ndarray,
    *,
    padding_id: int,
    batch_size: int = 4096,
) -> RewardScores:
    """Call ``reward_fn`` in batches on every (state, target) pair.

    Args:
        reward_fn: ``(Histories, targets) -> (mean, cvar, quantiles)``.
        items: ``(N, L)`` right-aligned histories padded with ``padding_id``.
        watch_ratios: ``(N, L)`` watch ratios of the history events.
        targets: ``(N,)`` target items.
        padding_id: padding id in ``items`` (converted to ``Histories``' -1).
        batch_size: pairs per call.
    """
    means, cvars, quants = [], [], []
    for s in range(0, len(targets), batch_size):
        it = items[s : s + batch_size]
        h = Histories(items=np.where(it == padding_id, PAD, it), watch_ratio=watch_ratios[s : s + batch_size])
        out = reward_fn(h, targets[s : s + batch_size])
        if isinstance(out, RewardScores):
            out = (out.mean, out.cvar, out.quantiles)
        mean, cvar, q = (list(out) + [None, None])[:3]
        means.append(_np(mean))
        cvars.append(_np(cvar))
        quants.append(_np(q))
    if not means:
        return RewardScores(mean=np.zeros(0))
    return RewardScores(
        mean=np.concatenate(means).reshape(-1),
        cvar=None if any(c is None for c in cvars) else np.concatenate(cvars).reshape(-1),
        quantiles=None if any(q is None for q in quants) else np.concatenate(quants),
    )


def reward_signal(scores: RewardScores, config: RewardWeightConfig) -> np.ndarray:
    """The per-target reward summary the weights are computed from (see module docstring)."""
    if config.signal == "mean":
        return np.asarray(scores.mean, np.float64)
    if config.signal == "cvar":
        if scores.cvar is not None:
            return np.asarray(scores.cvar, np.float64)
        if scores.quantiles is None:
            raise ConfigError("reward.signal=cvar needs the reward's cvar or quantiles; got only the mean")
        return _cvar_from_quantiles(np.asarray(scores.quantiles, np.float64), config.cvar_level)
    if config.signal == "quantile":
        if scores.quantiles is None:
            raise ConfigError("reward.signal=quantile needs reward quantiles; got none")
        q = np.sort(np.asarray(scores.quantiles, np.float64), axis=1)
        idx = int(np.argmin(np.abs(_quantile_levels(q.shape[1]) - config.quantile_level)))
        return q[:, idx]
    raise ConfigError("reward.signal is none: the plain model has no reward signal")


def transform_rewards(values: np.ndarray, config: RewardWeightConfig) -> np.ndarray:
    """Weights with mean 1 from per-target reward values (steps 2-5 of the module docstring)."""
    r = np.asarray(values, np.float64)
    if r.size == 0:
        return r.astype(np.float32)
    if not np.isfinite(r).all():
        raise ConfigError("the reward has non-finite values; check the reward model's inputs")
    std = r.std()
    z = (r - r.mean()) / std if std > 1e-12 else np.zeros_like(r)
    z = np.clip(z / config.temperature, -config.clip, config.clip)
    w = np.exp(z) if config.form == "exp" else 1.0 + config.alpha * np.tanh(z)
    return (w / w.mean()).astype(np.float32)


def target_weights(
    rewards: RewardFn | RewardScores | np.ndarray,
    states: tuple[np.ndarray, np.ndarray, np.ndarray],
    config: RewardWeightConfig,
    *,
    padding_id: int,
) -> np.ndarray:
    """Loss weights ``(N,)`` of the training targets from a reward function or arrays.

    Args:
        rewards: a ``reward_fn``, ``RewardScores``, or a ``(N,)`` / ``(N, Q)`` array, in the
            order of ``states``.
        states: ``SeqData.train_states()``: ``(items, watch_ratios, targets)``.
        config: the weighting transform.
        padding_id: padding id of ``states``' items.
    """
    items, ratios, targets = states
    if callable(rewards):
        scores = score_targets(
            rewards, items, ratios, targets, padding_id=padding_id, batch_size=config.batch_size
        )
    elif isinstance(rewards, RewardScores):
        scores = rewards
    else:
        scores = scores_from_array(rewards, cvar_level=config.cvar_level)
    if len(scores.mean) != len(targets):
        raise ConfigError(
            f"the reward covers {len(scores.mean)} targets but there are {len(targets)} training "
            "targets; align arrays with SeqData.train_states()"
        )
    return transform_rewards(reward_signal(scores, config), config)

"""Reward recovery against the ground-truth world, quantile calibration, rating AUC.

Protocol (every number of the IRL report is computed this way):

* **Pairs**: for held-out users (never trained on), up to ``states_per_user`` logged
  slates give states (the history the platform had before the slate); each state is
  paired with the slate's items and ``n_unshown`` random items the user was never
  shown in the logs (nor recently consumed), so recovery is judged off the logging
  policy's support too.
* **Truth**: ``world.expected_satisfaction(user, item, history_items=...)`` with the
  world's own history (the last consumed items); for calibration one realised draw per
  pair from ``world.sample_satisfaction`` (a fixed seed).
* **Spearman** between a model's score and the truth over all pairs, with a 95%
  bootstrap interval that resamples *users* (pairs of one user are correlated).
* **Calibration**: a monotone rescaling ``g(q) = a + b mean + c (q - mean)``
  (b, c >= 0) fitted on validation users' pairs by the pinball loss over
  tau = 0.1..0.9; then, on test pairs, the share of realised satisfaction below the
  rescaled tau-quantile; the report is the mean absolute coverage error over tau.
* **Rating AUC** (MovieLens): the probability that a held-out interaction rated 4-5
  scores above one rated 1-2 (Mann-Whitney, ties count half).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from mtrec_ray.irl.data import EventTable, FeatureSpec
from mtrec_ray.models.quantile import quantile_levels

CALIBRATION_TAUS = np.round(np.arange(0.1, 0.91, 0.1), 2)


@dataclass
class EvalPairs:
    """(state, candidate item) pairs of held-out users with their ground truth."""

    user: np.ndarray
    """User of each state (P,)."""
    hist_items: np.ndarray
    """Model state: consumed items before the slate (P, L), padded with n_items."""
    hist_feats: np.ndarray
    """Model state: their responses (P, L, F)."""
    state_feats: np.ndarray
    """Observable session features of the state (P, S)."""
    items: np.ndarray
    """Candidate items (P, C)."""
    nuis: np.ndarray
    """Nuisance features of the candidates at slate position 0 (P, C, Z)."""
    truth: np.ndarray
    """True expected satisfaction (P, C)."""
    realised: np.ndarray
    """One realised satisfaction draw per pair (P, C)."""
    shown: np.ndarray
    """True where the candidate was in the logged slate, or ever shown to the user (P, C)."""


def item_nuisance(
    item_durations: np.ndarray, spec: FeatureSpec, items: np.ndarray, position: int = 0
) -> np.ndarray:
    """Nuisance features ``(..., Z)`` of items at a slate position (same as training)."""
    z = np.zeros(items.shape + (spec.n_nuisance,), dtype=np.float32)
    if spec.has_slates or np.any(item_durations > 0):
        ld = (np.log(np.maximum(item_durations[items], 1e-3)) - spec.log_duration_mean) / spec.log_duration_std
        z[..., 0] = ld
        z[..., 1] = ld**2 - 1.0
    z[..., 2] = np.log1p(position)
    return z


def build_eval_pairs(
    events: EventTable,
    *,
    world: object,
    spec: FeatureSpec,
    item_durations: np.ndarray,
    shown_items: dict[int, np.ndarray],
    states_per_user: int = 10,
    n_unshown: int = 5,
    seed: int = 0,
) -> EvalPairs:
    """Sample evaluation pairs from held-out users' events.

    Args:
        events: events of the held-out users (built with ``spec``).
        world: the ``GroundTruthWorld`` that generated the logs.
        spec: feature constants.
        item_durations: duration of every catalogue item (observable item metadata).
        shown_items: per user, every item the logs ever showed them.
        states_per_user: slates sampled per user as states.
        n_unshown: never-shown random items added to each state's candidates.
        seed: sampling seed.
    """
    rng = np.random.default_rng(seed)
    n_items = spec.n_items
    rows = []
    for user in np.unique(events.user):
        ev = np.flatnonzero(events.user == user)
        take = rng.choice(ev, size=min(states_per_user, ev.size), replace=False)
        rows.append(np.sort(take))
    idx = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    slate = events.slate_items[idx]
    k = slate.shape[1]
    cand = np.full((idx.size, k + n_unshown), n_items, dtype=np.int64)
    cand[:, :k] = slate
    shown = np.zeros(cand.shape, dtype=bool)
    shown[:, :k] = events.slate_mask[idx]
    for p, e in enumerate(idx):
        ever = np.zeros(n_items + 1, dtype=bool)
        ever[shown_items.get(int(events.user[e]), np.zeros(0, dtype=np.int64))] = True
        blocked = ever.copy()
        blocked[events.hist_items[e]] = True
        blocked[cand[p, :k]] = True
        free = np.flatnonzero(~blocked[:n_items])
        need = n_unshown + int((cand[p, :k] == n_items).sum())
        if free.size < need:  # a user shown (almost) everything: fall back to shown items
            extra = np.flatnonzero(~np.isin(np.arange(n_items), np.concatenate([events.hist_items[e], cand[p, :k], free])))
            free = np.concatenate([free, rng.permutation(extra)[: need - free.size]])
        pick = rng.choice(free, size=need, replace=False)
        cand[p, k:] = pick[:n_unshown]
        pad = np.flatnonzero(cand[p, :k] == n_items)
        cand[p, pad] = pick[n_unshown:]
        shown[p, k:] = ever[cand[p, k:]]
    user = events.user[idx]
    world_hist = events.hist_items[idx]
    world_hist = np.where(world_hist == n_items, -1, world_hist)
    truth = world.expected_satisfaction(user, cand, history_items=world_hist)  # type: ignore[attr-defined]
    realised = world.sample_satisfaction(  # type: ignore[attr-defined]
        user, cand, rng=np.random.default_rng(seed + 1), history_items=world_hist
    )
    return EvalPairs(
        user=user, hist_items=events.hist_items[idx], hist_feats=events.hist_feats[idx],
        state_feats=events.state_feats[idx], items=cand,
        nuis=item_nuisance(item_durations, spec, cand), truth=truth, realised=realised, shown=shown,
    )


def spearman(score: np.ndarray, truth: np.ndarray) -> float:
    """Spearman rank correlation over all entries."""
    return float(stats.spearmanr(np.ravel(score), np.ravel(truth)).statistic)


def bootstrap_spearman(
    score: np.ndarray, truth: np.ndarray, groups: np.ndarray, *, n_boot: int = 200, seed: int = 0
) -> tuple[float, tuple[float, float]]:
    """Spearman and its 95% percentile interval, resampling groups (users) of rows.

    Args:
        score: ``(P, C)`` scores.
        truth: ``(P, C)`` true values.
        groups: ``(P,)`` group of each row (the user).
    """
    point = spearman(score, truth)
    uniq, inv = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(uniq.size)]
    rng = np.random.default_rng(seed)
    # ranks once; Spearman of a resample = Pearson of the resampled ranks' re-ranks
    s, t = np.ravel(score), np.ravel(truth)
    c = score.shape[1] if score.ndim == 2 else 1
    reps = []
    for _ in range(n_boot):
        pick = rng.integers(0, uniq.size, size=uniq.size)
        rows = np.concatenate([members[g] for g in pick])
        cols = (rows[:, None] * c + np.arange(c)[None, :]).ravel()
        reps.append(stats.spearmanr(s[cols], t[cols]).statistic)
    lo, hi = np.percentile(reps, [2.5, 97.5])
    return point, (float(lo), float(hi))


def quantiles_at(quantiles: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation of ``(..., N)`` mid-point quantiles at ``taus``.

    Returns ``(..., len(taus))``; beyond the outer mid-points the end values are kept.
    """
    n = quantiles.shape[-1]
    if n == 1:
        return np.repeat(quantiles, len(taus), axis=-1)
    levels = quantile_levels(n).numpy().astype(np.float64)
    pos = np.interp(taus, levels, np.arange(n))
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    frac = pos - lo
    return quantiles[..., lo] * (1 - frac) + quantiles[..., hi] * frac


def _pinball(resid: np.ndarray, taus: np.ndarray) -> float:
    return float(np.mean(np.maximum(taus * resid, (taus - 1) * resid)))


@dataclass
class Rescaling:
    """Monotone map ``a + b mean + c (q - mean)`` with b, c >= 0."""

    a: float
    b: float
    c: float

    def __call__(self, q: np.ndarray, mean: np.ndarray) -> np.ndarray:
        return self.a + self.b * mean[..., None] + self.c * (q - mean[..., None])


def fit_rescaling(quantiles: np.ndarray, realised: np.ndarray, *, taus: np.ndarray = CALIBRATION_TAUS) -> Rescaling:
    """Fit the monotone rescaling on validation pairs by the mean pinball loss."""
    q = quantiles_at(quantiles.reshape(-1, quantiles.shape[-1]), taus)
    mean = quantiles.reshape(-1, quantiles.shape[-1]).mean(-1)
    y = realised.reshape(-1)
    dev = q - mean[:, None]

    def objective(theta: np.ndarray) -> float:
        a, lb, lc = theta
        pred = a + np.exp(lb) * mean[:, None] + np.exp(lc) * dev
        return _pinball(y[:, None] - pred, taus[None, :])

    sd_m = max(float(mean.std()), 1e-6)
    b0 = max(float(np.cov(mean, y)[0, 1] / sd_m**2), 1e-3)
    x0 = np.array([float(y.mean() - b0 * mean.mean()), np.log(b0), np.log(b0)])
    best = None
    for start in (x0, x0 + np.array([0.0, 0.0, 1.0]), x0 - np.array([0.0, 0.0, 1.0])):
        res = optimize.minimize(objective, start, method="Nelder-Mead", options={"maxiter": 2000, "xatol": 1e-4, "fatol": 1e-7})
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    a, lb, lc = best.x
    return Rescaling(a=float(a), b=float(np.exp(lb)), c=float(np.exp(lc)))


def coverage(
    quantiles: np.ndarray, realised: np.ndarray, rescaling: Rescaling, *, taus: np.ndarray = CALIBRATION_TAUS
) -> tuple[np.ndarray, float]:
    """Share of realised values below each rescaled tau-quantile, and the mean abs error."""
    flat = quantiles.reshape(-1, quantiles.shape[-1])
    q = rescaling(quantiles_at(flat, taus), flat.mean(-1))
    cov = (realised.reshape(-1)[:, None] <= q).mean(0)
    return cov, float(np.mean(np.abs(cov - taus)))


def rating_auc(score: np.ndarray, rating: np.ndarray) -> float:
    """AUC of ``score`` separating ratings >= 4 (positive) from ratings <= 2 (negative)."""
    pos, neg = score[rating >= 4], score[rating <= 2]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    ranks = stats.rankdata(np.concatenate([pos, neg]))
    return float((ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


Scorer = Callable[[EvalPairs], np.ndarray]

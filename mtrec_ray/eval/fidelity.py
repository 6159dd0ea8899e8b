"""Fidelity of a log-fitted user simulator: against held-out logs and the world itself.

Three comparisons (``fidelity_report``):

1. **Held-out logs, step by step**: for each logged slate of users kept out of fitting
   (``holdout_fraction`` in ``mtrec fit-sim``), the model's P(click) given the logged
   history and slate: CTR relative error (mean predicted vs observed share of slates
   with a click), expected calibration error of P(click any) (15 equal-width bins) and
   of the per-slot choice probabilities; the leave rate; and the watch ratio sampled
   from the model for the logged clicks against the logged watch ratios (Wasserstein-1
   and KS distances).
2. **Held-out logs, whole sessions**: the logging policy (rebuilt from the world that
   generated the logs) recommends inside the fitted simulator, from logged session
   starts, until users leave; session lengths (KS distance), CTR and watch ratios are
   compared with the held-out users' logged sessions.
3. **The world itself, another policy**: a uniformly random recommender in the fitted
   simulator and in the world (same horizon as the logs): CTR, session length (KS),
   watch ratios. This is the off-policy check a policy optimised in the simulator needs.

Targets (issue 3): CTR within 10% relative, session-length KS under 0.1. Data sets
without a world (MovieLens) get sections 1 and a session-length comparison under a
popularity policy, reported with that caveat.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from envs.user_session import (
    UserModel,
    UserSessionCore,
    build_steps,
    load_interactions,
)
from mtrec_ray.errors import ConfigError
from mtrec_ray.recommenders import Histories, PopularityRecommender, RandomRecommender, Recommender

CTR_TARGET = 0.10
KS_TARGET = 0.10


def ece(pred: np.ndarray, obs: np.ndarray, *, n_bins: int = 15) -> float:
    """Expected calibration error with equal-width bins on [0, 1]."""
    pred, obs = np.asarray(pred, float), np.asarray(obs, float)
    if pred.size == 0:
        return float("nan")
    b = np.minimum((pred * n_bins).astype(int), n_bins - 1)
    n = np.bincount(b, minlength=n_bins)
    sp = np.bincount(b, weights=pred, minlength=n_bins)
    so = np.bincount(b, weights=obs, minlength=n_bins)
    nz = n > 0
    return float(np.sum(np.abs(sp[nz] - so[nz])) / pred.size)


def ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov distance (NaN when a sample is empty)."""
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    return float(stats.ks_2samp(a, b).statistic)


def _dist(sim: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    return {
        "w1": float(stats.wasserstein_distance(sim, ref)) if len(sim) and len(ref) else float("nan"),
        "ks": ks(sim, ref),
        "sim_mean": float(np.mean(sim)) if len(sim) else float("nan"),
        "ref_mean": float(np.mean(ref)) if len(ref) else float("nan"),
    }


def heldout_step_metrics(model: UserModel, events: Any, *, seed: int = 0) -> dict[str, Any]:
    """Section 1: step-level predictions on held-out logged slates."""
    cfg = model.config
    steps = build_steps(events, n_items=model.n_items, history_len=cfg.history_len,
                        negatives=cfg.negatives, seed=seed + 1)
    h = steps.histories()
    state, st = model.observer.encode(h)
    k = steps.slate.shape[1]
    slate = np.where(steps.slate >= 0, steps.slate, 0)
    p = model.click_probs(state, slate)
    pad = steps.slate < 0
    if pad.any():  # renormalise without the padded slots (shorter slates)
        p[:, :k][pad] = 0.0
        p /= p.sum(axis=1, keepdims=True)
    p_any = 1.0 - p[:, k]
    clicked = steps.chosen < k
    onehot = np.zeros((len(steps), k), float)
    onehot[np.flatnonzero(clicked), steps.chosen[clicked]] = 1.0
    rng = np.random.default_rng(seed)
    ci = np.flatnonzero(clicked)
    item = np.full(len(steps), -1, np.int64)
    item[ci] = steps.slate[ci, steps.chosen[ci]]
    pb = model.watch_bin_probs(state[ci], item[ci]) if ci.size else np.zeros((0, cfg.n_watch_bins))
    u = rng.random((ci.size, 2))
    bins = (u[:, :1] > np.cumsum(pb, axis=1)[:, :-1]).sum(axis=1)
    wr_sim = model.bin_to_ratio(bins, u[:, 1])
    p_leave = model.leave_prob(state, st, item, clicked, steps.watch_ratio)
    ctr_obs, ctr_pred = float(clicked.mean()), float(p_any.mean())
    return {
        "steps": len(steps),
        "ctr_logged": ctr_obs,
        "ctr_predicted": ctr_pred,
        "ctr_rel_error": abs(ctr_pred - ctr_obs) / max(ctr_obs, 1e-12),
        "ctr_ece": ece(p_any, clicked),
        "choice_ece": ece(p[:, :k][~pad], onehot[~pad]),
        "leave_rate_logged": float(steps.leave.mean()),
        "leave_rate_predicted": float(p_leave.mean()),
        "leave_ece": ece(p_leave, steps.leave),
        "watch_ratio": _dist(wr_sim, steps.watch_ratio[ci]),
    }


def logged_sessions(events: Any) -> dict[str, np.ndarray]:
    """Session lengths (slates), slate CTR and consumed watch ratios of a log."""
    slate_col = "slate_id" if "slate_id" in events.columns else None
    if slate_col:
        g = events.groupby(slate_col, sort=False)
        per_slate = g.agg(session_id=("session_id", "first"), click=("click", "max"))
        lengths = per_slate.groupby("session_id").size().to_numpy()
        ctr = per_slate["click"].to_numpy(float)
    else:
        lengths = events.groupby("session_id").size().to_numpy()
        ctr = (events["click"].to_numpy(float) if "click" in events.columns else np.ones(len(events)))
    click = events["click"].to_numpy() == 1 if "click" in events.columns else np.ones(len(events), bool)
    wr = events["watch_ratio"].to_numpy()[click] if "watch_ratio" in events.columns else np.ones(int(click.sum()))
    return {"session_length": lengths.astype(float), "ctr": ctr, "watch_ratio": wr.astype(float)}


def simulate_sessions(model: UserModel, recommender: Recommender, *, n_sessions: int, slate_size: int,
                      seed: int = 0, max_session_len: int | None = None) -> dict[str, np.ndarray]:
    """Run ``n_sessions`` sessions to their end in the fitted simulator (one batch)."""
    core = UserSessionCore(model=model, batch_size=n_sessions,
                           max_session_len=int(max_session_len or model.config.max_session_len))
    rng = np.random.default_rng([seed, 5])
    rec_rng = np.random.default_rng([seed, 6])
    core.reset_rows(np.arange(n_sessions), rng)
    active = np.ones(n_sessions, bool)
    lengths = np.zeros(n_sessions)
    clicks, wrs = [], []
    while active.any():
        rows = np.flatnonzero(active)
        slates = np.zeros((n_sessions, slate_size), np.int64)
        slates[rows] = recommender.recommend(core.histories.select(rows), slate_size, rng=rec_rng)
        resp, _ = core.step(slates, rng)
        term, trunc = core.end_flags(resp["leave"])
        lengths[rows] += 1
        clicks.append(resp["click"][rows])
        c = rows[resp["click"][rows] > 0]
        wrs.append(resp["watch_ratio"][c])
        active[rows[(term | trunc)[rows]]] = False
    return {"session_length": lengths, "ctr": np.concatenate(clicks).astype(float),
            "watch_ratio": np.concatenate(wrs).astype(float)}


class _WorldPolicyAdapter:
    """A world policy (``recommend(world_histories)``) as a ``Recommender``."""

    def __init__(self, policy: Any, name: str) -> None:
        self.policy = policy
        self.name = name

    def recommend(self, histories: Histories, k: int, *, rng: np.random.Generator | None = None) -> np.ndarray:
        from types import SimpleNamespace

        view = SimpleNamespace(user_ids=histories.user_ids, items=histories.items,
                               watch_ratio=histories.watch_ratio, step_in_session=histories.session_step)
        return np.asarray(self.policy.recommend(view))[:, :k]


def _world_sessions(world: Any, recommender: Recommender, *, n_users: int, horizon_days: float,
                    seed: int) -> dict[str, np.ndarray]:
    """Multi-session deployment in the world; session lengths, slate CTR, watch ratios."""
    k = world.config.slate_size
    users = np.random.default_rng([seed, 8]).choice(world.n_users, size=min(n_users, world.n_users), replace=False)
    rec_rng = np.random.default_rng([seed, 9])

    def policy(wh: Any) -> np.ndarray:
        h = Histories(items=wh.items, watch_ratio=np.nan_to_num(wh.watch_ratio),
                      session_step=wh.step_in_session, user_ids=wh.user_ids)
        return recommender.recommend(h, k, rng=rec_rng)

    rollout = world.run(policy, rng=np.random.default_rng([seed, 10]), user_ids=users, horizon_days=horizon_days)
    s = rollout.steps
    key = s.rows.astype(np.int64) * 10_000 + s.session_index
    _, lengths = np.unique(key, return_counts=True)
    clicked = s.clicked_position >= 0
    return {"session_length": lengths.astype(float), "ctr": clicked.astype(float),
            "watch_ratio": s.watch_ratio[clicked].astype(float)}


def _compare(sim: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> dict[str, Any]:
    ctr_s, ctr_r = float(np.mean(sim["ctr"])), float(np.mean(ref["ctr"]))
    return {
        "ctr_sim": ctr_s,
        "ctr_ref": ctr_r,
        "ctr_rel_error": abs(ctr_s - ctr_r) / max(ctr_r, 1e-12),
        "session_length_sim_mean": float(np.mean(sim["session_length"])),
        "session_length_ref_mean": float(np.mean(ref["session_length"])),
        "session_length_ks": ks(sim["session_length"], ref["session_length"]),
        "sessions_sim": int(sim["session_length"].size),
        "sessions_ref": int(ref["session_length"].size),
        "watch_ratio": _dist(sim["watch_ratio"], ref["watch_ratio"]),
    }


def fidelity_report(
    sim_dir: str | Path,
    data_dir: str | Path,
    *,
    n_sessions: int = 2000,
    world_users: int = 500,
    seed: int = 0,
    out_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Compare a fitted simulator with held-out logs and, for world data, the world.

    Args:
        sim_dir: Artifact of ``fit_simulator`` fitted with ``holdout_fraction > 0``.
        data_dir: The data set it was fitted on.
        n_sessions: Simulated sessions per policy.
        world_users: Users of the world run of the off-policy check.
        seed: Seed of every simulation.
        out_dir: Where ``fidelity.json`` goes (None: not written).

    Raises:
        ConfigError: the artifact holds no held-out users, or was fitted on other data.
    """
    model = UserModel.load(sim_dir)
    data = load_interactions(data_dir)
    if model.fingerprint != data.fingerprint:
        raise ConfigError(
            f"simulator {sim_dir} was fitted on data set {model.fingerprint}, not {data_dir} "
            f"({data.fingerprint}); pass the data set it was fitted on"
        )
    held = np.asarray(model.meta.get("dataset", {}).get("holdout_users") or [], np.int64)
    if held.size == 0:
        raise ConfigError(f"{sim_dir} was fitted on every user; refit with `mtrec fit-sim ... --set holdout_fraction=0.2`")
    ev = data.events[data.events["user_id"].isin(held)]
    report: dict[str, Any] = {
        "simulator": str(sim_dir),
        "data": str(data_dir),
        "heldout_users": int(held.size),
        "heldout": heldout_step_metrics(model, ev, seed=seed),
    }
    logged = logged_sessions(ev)
    world = None
    try:
        from envs.ground_truth_world import LoggingPolicy, load_world_spec

        world = load_world_spec(data_dir)
    except Exception:  # noqa: BLE001 - not world data: no world comparisons
        world = None
    rollouts: dict[str, Any] = {}
    if world is not None:
        k = world.config.slate_size
        logging = _WorldPolicyAdapter(LoggingPolicy(world=world, rng=seed + 11), "logging")
        sim = simulate_sessions(model, logging, n_sessions=n_sessions, slate_size=k, seed=seed)
        rollouts["logging_policy_vs_heldout_logs"] = _compare(sim, logged)
        rnd = RandomRecommender(n_items=model.n_items, seed=seed)
        sim_r = simulate_sessions(model, rnd, n_sessions=n_sessions, slate_size=k, seed=seed)
        ref_r = _world_sessions(world, rnd, n_users=world_users, horizon_days=world.config.horizon_days, seed=seed)
        rollouts["random_policy_vs_world"] = _compare(sim_r, ref_r)
    else:
        k = max(1, int(model.meta.get("dataset", {}).get("max_slate_size", 1)))
        pop = PopularityRecommender(counts=model.item_clicks)
        sim = simulate_sessions(model, pop, n_sessions=n_sessions, slate_size=1, seed=seed)
        rollouts["popularity_policy_vs_heldout_logs"] = {
            **_compare(sim, logged),
            "caveat": "logged sessions come from users' own choices, not a popularity policy",
        }
    report["rollouts"] = rollouts
    main = rollouts.get("logging_policy_vs_heldout_logs")
    report["targets"] = {
        "ctr_rel_error_heldout_steps": report["heldout"]["ctr_rel_error"] <= CTR_TARGET,
        **({"ctr_rel_error_sessions": main["ctr_rel_error"] <= CTR_TARGET,
            "session_length_ks": main["session_length_ks"] < KS_TARGET} if main else {}),
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "fidelity.json").write_text(json.dumps(report, indent=2, default=float))
    return report


__all__ = ["ece", "fidelity_report", "heldout_step_metrics", "ks", "logged_sessions", "simulate_sessions"]

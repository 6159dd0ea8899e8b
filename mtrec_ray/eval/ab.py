"""A/B test of recommenders inside the ground-truth world (``mtrec ab``).

Every arm is deployed for the *same* sampled users of the same world over a horizon of
several days (users leave sessions and come back, or churn, as the world decides).
Common random numbers: each arm's run starts from the same dynamics seed and the same
users, so as long as two arms show the same slates their users behave identically;
the comparison is paired by user. (The world draws the randomness of a step for the
whole batch of users in session, so streams diverge once the arms' actions differ.)

Per arm, per user: viewing time (minutes over the horizon; the platform metric), mean
true satisfaction of the consumed items, mean session length (slates), CTR (share of
slates with a click), return rate (share of the user's sessions after which the user
came back within the horizon), and sessions. Each arm's mean gets a 95% percentile
bootstrap interval over users; each arm's lift over the control arm
(``mean_arm / mean_control - 1``) and difference get paired bootstrap intervals (the
same resampled users for both arms). Lifts are left out (``None``) for metrics whose
control mean is not positive (true satisfaction can be negative): read the difference.
Results go to ``ab.json`` and ``ab.png``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtrec_ray.config import to_dict
from mtrec_ray.errors import ConfigError
from mtrec_ray.progress import console_print
from mtrec_ray.recommenders import Histories, Recommender, make_recommender, parse_arm

METRICS: dict[str, str] = {
    "viewing_time": "viewing time per user (minutes)",
    "satisfaction": "mean true satisfaction per consumed item",
    "session_length": "slates per session",
    "ctr": "share of slates with a click",
    "return_rate": "share of sessions followed by a return",
    "sessions": "sessions per user",
}
"""Per-user metrics of an A/B test and their meaning."""


@dataclass
class ABConfig:
    """Where and how long the A/B test runs."""

    world_dir: str = ""
    """A world directory or prepared world data set whose world to use (recommended: the
    world the simulator was fitted on); empty builds ``preset`` with ``world_seed``."""
    preset: str = "default"
    """World preset when ``world_dir`` is empty."""
    world_seed: int = 0
    """World seed when ``world_dir`` is empty."""
    n_users: int = 500
    """Users sampled (without replacement) from the world's users."""
    horizon_days: float = 7.0
    """Days simulated per user (several sessions)."""
    seed: int = 0
    """Seed of the user sample and the dynamics (shared by all arms)."""
    history_len: int = 50
    """Consumed items kept in each user's history (what recommenders see)."""
    control: str = ""
    """Arm that lifts are measured against (default: the first arm)."""
    n_bootstrap: int = 2000
    """Bootstrap resamples for the intervals."""
    confidence: float = 0.95
    """Interval level."""

    def validate(self) -> None:
        """Raise ConfigError with a fix-it message for an invalid value."""
        if self.n_users < 2:
            raise ConfigError(f"ab.n_users must be >= 2, got {self.n_users}")
        if not self.horizon_days > 0:
            raise ConfigError(f"ab.horizon_days must be > 0, got {self.horizon_days}")
        if self.n_bootstrap < 100:
            raise ConfigError(f"ab.n_bootstrap must be >= 100, got {self.n_bootstrap}")
        if not 0.5 < self.confidence < 1.0:
            raise ConfigError(f"ab.confidence must be in (0.5, 1), got {self.confidence}")


@dataclass
class ArmResult:
    """Per-user metric arrays of one arm."""

    name: str
    per_user: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0


def _world(config: ABConfig) -> Any:
    from envs.ground_truth_world import GroundTruthWorld, load_world_spec, world_config

    if config.world_dir:
        return load_world_spec(config.world_dir)
    return GroundTruthWorld(config=world_config(config.preset), seed=config.world_seed)


def popularity_counts(world: Any, *, world_dir: str = "", seed: int = 0) -> np.ndarray:
    """Per-item click counts: from the world directory's logs, else a fresh logged sample."""
    import pandas as pd

    if world_dir:
        p = Path(world_dir)
        for name, col in (("logs.parquet", None), ("events.parquet", None)):
            f = p / name
            if f.exists():
                df = pd.read_parquet(f, columns=["item_id", "click"] if col is None else None)
                items = df.loc[df["click"] == 1, "item_id"].to_numpy()
                return np.bincount(items, minlength=world.n_items)[: world.n_items].astype(float)
    from envs.ground_truth_world import LoggingPolicy

    users = np.random.default_rng([seed, 3]).choice(world.n_users, size=min(500, world.n_users), replace=False)
    rollout = world.run(LoggingPolicy(world=world, rng=seed + 1), rng=seed + 2, user_ids=users, horizon_days=2.0)
    s = rollout.steps
    items = s.clicked_item[s.clicked_item >= 0]
    return np.bincount(items, minlength=world.n_items).astype(float)


def deploy(
    world: Any,
    recommender: Recommender,
    *,
    users: np.ndarray,
    horizon_days: float,
    seed: int,
    history_len: int = 50,
    slate_size: int | None = None,
) -> dict[str, np.ndarray]:
    """Run one recommender for ``users`` over the horizon; per-user metric arrays."""
    k = int(slate_size or world.config.slate_size)
    b = users.size
    rng = np.random.default_rng([seed, 1])
    rec_rng = np.random.default_rng([seed, 2])
    state = world.reset_batch(users, rng, horizon_days=horizon_days)
    hist = Histories.empty(b, history_len)
    hist.user_ids = users.astype(np.int64).copy()
    slates = np.zeros((b, k), np.int64)
    watch = np.zeros(b)
    sat_sum = np.zeros(b)
    clicks = np.zeros(b)
    n_slates = np.zeros(b)
    returns = np.zeros(b)
    while state.n_active:
        rows = np.flatnonzero(state.active)
        hist.session_step[rows] = state.step_in_session[rows]
        hist.session_clicks[rows] = state.session_clicks[rows]
        rec = np.asarray(recommender.recommend(hist.select(rows), k, rng=rec_rng))
        if rec.shape != (rows.size, k) or rec.dtype.kind not in "iu":
            raise ConfigError(
                f"recommender {recommender.name!r} returned {rec.dtype} {rec.shape}, expected "
                f"integer item ids of shape [{rows.size}, {k}]"
            )
        if rec.size and (rec.min() < 0 or rec.max() >= world.n_items):
            raise ConfigError(f"recommender {recommender.name!r} returned item ids outside 0..{world.n_items - 1}")
        slates[rows] = rec
        resp, state = world.step_batch(state, slates)
        r = resp.rows
        clicked = resp.clicked_position >= 0
        cr = r[clicked]
        if cr.size:
            h = hist
            h.items[cr, :-1] = h.items[cr, 1:]
            h.items[cr, -1] = resp.clicked_item[clicked]
            h.watch_ratio[cr, :-1] = h.watch_ratio[cr, 1:]
            h.watch_ratio[cr, -1] = resp.watch_ratio[clicked]
        np.add.at(watch, r, resp.watch_time)
        np.add.at(sat_sum, r, np.where(clicked, np.nan_to_num(resp.satisfaction), 0.0))
        np.add.at(clicks, r, clicked)
        np.add.at(n_slates, r, 1.0)
        np.add.at(returns, r, resp.returns)
    sessions = state.session_index + 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "viewing_time": watch / 60.0,
            "satisfaction": np.where(clicks > 0, sat_sum / np.maximum(clicks, 1), np.nan),
            "session_length": n_slates / sessions,
            "ctr": clicks / np.maximum(n_slates, 1),
            "return_rate": returns / sessions,
            "sessions": sessions.astype(float),
        }


def _bootstrap_idx(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng([seed, 99]).integers(0, n, size=(n_boot, n))


def _nanmean_rows(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    s = x[idx]
    with np.errstate(invalid="ignore"):
        return np.nanmean(s, axis=1) if np.isnan(s).any() else s.mean(axis=1)


def summarise(arms: list[ArmResult], *, control: str, n_bootstrap: int, confidence: float,
              seed: int) -> dict[str, Any]:
    """Means with bootstrap intervals per arm and metric, and paired lifts over ``control``."""
    names = [a.name for a in arms]
    if control not in names:
        raise ConfigError(f"control arm {control!r} is not among the arms {names}")
    n = next(iter(arms[0].per_user.values())).size
    idx = _bootstrap_idx(n, n_bootstrap, seed)
    lo_q, hi_q = 100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2
    ctrl = next(a for a in arms if a.name == control)
    out: dict[str, Any] = {}
    for arm in arms:
        res: dict[str, Any] = {}
        for m in METRICS:
            x = arm.per_user[m]
            boot = _nanmean_rows(x, idx)
            mean = float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")
            entry: dict[str, Any] = {
                "mean": mean,
                "ci95": [float(np.nanpercentile(boot, lo_q)), float(np.nanpercentile(boot, hi_q))],
            }
            if arm.name != control:
                c = ctrl.per_user[m]
                cboot = _nanmean_rows(c, idx)
                cmean = float(np.nanmean(c))
                with np.errstate(invalid="ignore", divide="ignore"):
                    lifts = boot / cboot - 1.0
                    diffs = boot - cboot
                if cmean > 0 and np.all(cboot > 0):
                    entry["lift"] = mean / cmean - 1.0
                    entry["lift_ci95"] = [float(np.nanpercentile(lifts, lo_q)), float(np.nanpercentile(lifts, hi_q))]
                else:  # a ratio is meaningless around or below zero: read ``diff``
                    entry["lift"] = None
                    entry["lift_ci95"] = None
                entry["diff"] = mean - cmean
                entry["diff_ci95"] = [float(np.nanpercentile(diffs, lo_q)), float(np.nanpercentile(diffs, hi_q))]
            res[m] = entry
        res["seconds"] = arm.seconds
        out[arm.name] = res
    return out


def run_ab(
    arms: Sequence[str | Recommender],
    config: ABConfig | None = None,
    *,
    out_dir: str | Path | None = None,
    popularity: np.ndarray | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Deploy each arm in the ground-truth world for the same users; report and plot.

    Args:
        arms: Recommenders, or specs for ``make_recommender``: ``random``,
            ``popularity``, ``policy:RUN_DIR``, ``module.path:Factory``. Names must be
            unique.
        config: World, users, horizon, control arm and bootstrap settings.
        out_dir: Where ``ab.json`` and ``ab.png`` go (None: not written).
        popularity: Item counts for the ``popularity`` arm (default: from the world
            directory's logs, else a fresh logged sample of the world).
        quiet: No progress lines.

    Returns:
        ``{"config", "users", "control", "arms": {name: {metric: {mean, ci95, lift,
        lift_ci95, diff, diff_ci95}}}, "metrics"}`` (lift None where the control mean
        is not positive).
    """
    cfg = config or ABConfig()
    cfg.validate()
    if not arms:
        raise ConfigError("give at least one arm, e.g. --arms random,popularity")
    world = _world(cfg)
    users = np.sort(np.random.default_rng([cfg.seed, 0]).choice(
        world.n_users, size=min(cfg.n_users, world.n_users), replace=False))
    recs: list[Recommender] = []
    for arm in arms:
        if isinstance(arm, str):
            pop = popularity
            if parse_arm(arm)[1] == "popularity" and pop is None:
                pop = popularity_counts(world, world_dir=cfg.world_dir, seed=cfg.seed)
            recs.append(make_recommender(arm, n_items=world.n_items, popularity=pop, seed=cfg.seed))
        else:
            recs.append(arm)
    names = [r.name for r in recs]
    if len(set(names)) != len(names):
        raise ConfigError(f"arm names must be unique, got {names}")
    control = cfg.control or names[0]
    results = []
    for rec in recs:
        t0 = time.perf_counter()
        per_user = deploy(world, rec, users=users, horizon_days=cfg.horizon_days, seed=cfg.seed,
                          history_len=cfg.history_len)
        results.append(ArmResult(name=rec.name, per_user=per_user, seconds=time.perf_counter() - t0))
        if not quiet:
            pu = per_user
            console_print(
                f"mtrec ab: {rec.name}: viewing {np.mean(pu['viewing_time']):.2f} min/user, "
                f"satisfaction {np.nanmean(pu['satisfaction']):.3f}, CTR {np.mean(pu['ctr']):.3f}, "
                f"session {np.mean(pu['session_length']):.2f} slates ({results[-1].seconds:.1f}s)"
            )
    report = {
        "config": to_dict(cfg),
        "users": int(users.size),
        "control": control,
        "metrics": METRICS,
        "common_random_numbers": "same users and dynamics seed per arm; paired bootstrap over users",
        "arms": summarise(results, control=control, n_bootstrap=cfg.n_bootstrap,
                          confidence=cfg.confidence, seed=cfg.seed),
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "ab.json").write_text(json.dumps(report, indent=2, default=float))
        plot_ab(report, out / "ab.png")
    return report


def plot_ab(report: dict[str, Any], path: str | Path) -> Path:
    """Bar chart per metric: arm means with 95% intervals (control hatched)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(report["arms"])
    metrics = list(METRICS)
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, m in zip(axes.ravel(), metrics, strict=True):
        means = [report["arms"][a][m]["mean"] for a in arms]
        lo = [report["arms"][a][m]["mean"] - report["arms"][a][m]["ci95"][0] for a in arms]
        hi = [report["arms"][a][m]["ci95"][1] - report["arms"][a][m]["mean"] for a in arms]
        bars = ax.bar(range(len(arms)), means, yerr=[lo, hi], capsize=4, color="tab:blue")
        for bar, a in zip(bars, arms, strict=True):
            if a == report["control"]:
                bar.set_hatch("//")
                bar.set_color("tab:gray")
        ax.set_xticks(range(len(arms)))
        ax.set_xticklabels(arms, rotation=20, ha="right", fontsize=8)
        ax.set_title(METRICS[m], fontsize=9)
    fig.suptitle(f"A/B in the ground-truth world: {report['users']} users, "
                 f"{report['config']['horizon_days']:g} days (95% CI; control {report['control']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)

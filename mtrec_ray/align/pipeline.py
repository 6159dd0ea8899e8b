"""The alignment pipeline: train click- and reward-guided arms, compare them in the world.

Arms and their click-trained twins (the comparison that isolates the learned reward):

==========================  ====================  =====================================
arm                         click-trained twin    what changes
==========================  ====================  =====================================
``mtrec-sasrec``            ``sasrec``            loss weighted by the mean reward
``mtrec-cvar-sasrec``       ``sasrec``            loss weighted by the reward's CVaR
``mtrec-gru4rec`` (...)     ``gru4rec``           same, for GRU4Rec
``ppo-mental``              ``ppo-click``         PPO reward: mental instead of click
==========================  ====================  =====================================

Every MTRec arm is also compared with ``ppo-watch_time`` (the raw watch-time signal)
when that arm is trained. The loop (``mtrec align``, ``mtrec demo``):

1. ``train_seqrec_arms``: SASRec / GRU4Rec plain and MTRec-weighted on the logs'
   consumed sequences (plain loop or Ray Train), leave-one-out full-ranking test
   metrics, each saved as a ``seqrec:DIR`` recommender;
2. ``train_rl_arms``: PPO in the log-fitted simulator, one run per reward, the same
   budget for each, each a ``policy:RUN_DIR`` recommender;
3. ``run_arms_ab``: every arm plus random and popularity deployed for the same users
   of the ground-truth world; per-arm means with 95% intervals, and ``pair_lifts``:
   paired-bootstrap lifts of every arm over its twin (and over the watch-time arm);
   ``headline`` picks the best MTRec arm and checks the target (+10% viewing time,
   interval above zero, true satisfaction not lower).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtrec_ray.errors import ConfigError
from mtrec_ray.progress import Log
from mtrec_ray.seqrec.train import SeqRecConfig

VARIANT_SIGNAL = {"plain": "none", "mean": "mean", "cvar": "cvar"}
"""Seqrec variant -> reward signal of the loss weights."""
RL_REWARDS = ("click", "mental", "watch_time")
"""PPO rewards an arm can be trained with."""
WATCH_TIME_ARM = "ppo-watch_time"
"""The raw watch-time arm every MTRec arm is also compared with."""
TARGET_LIFT = 0.10
"""Target viewing-time lift of the best MTRec arm over its click-trained twin."""


@dataclass
class RLArmsConfig:
    """PPO arms: which rewards, and the budget every one of them gets."""

    rewards: list[str] = field(default_factory=lambda: ["click", "mental", "watch_time"])
    """Rewards, one PPO run each: click, mental (the learned reward), watch_time."""
    iterations: int = 20
    """Training iterations per run (the same for every reward)."""
    train_batch_size: int = 4000
    """Env steps per iteration."""
    minibatch_size: int = 500
    """SGD minibatch."""
    num_epochs: int = 4
    """Passes over each batch."""
    lr: float = 1e-3
    """Adam learning rate."""
    gamma: float = 0.9
    """Discount per slate."""
    entropy_coeff: float = 0.0
    """Entropy bonus."""
    num_envs_per_env_runner: int = 64
    """Simulated users per env runner."""

    def validate(self) -> None:
        """Raise ConfigError with a fix-it message."""
        bad = [r for r in self.rewards if r not in RL_REWARDS]
        if bad:
            raise ConfigError(f"rl.rewards must be among {list(RL_REWARDS)}, got {bad}")
        if self.iterations < 1 or self.train_batch_size < 1 or self.minibatch_size < 1:
            raise ConfigError("rl.iterations, rl.train_batch_size and rl.minibatch_size must be >= 1")


@dataclass
class ABSettings:
    """The A/B test in the ground-truth world."""

    n_users: int = 500
    """Users sampled from the world (the same users for every arm)."""
    horizon_days: float = 7.0
    """Days simulated per user."""
    seed: int = 0
    """Seed of the user sample and the dynamics."""
    n_bootstrap: int = 2000
    """Bootstrap resamples (of users) for the intervals."""
    baselines: list[str] = field(default_factory=lambda: ["random", "popularity"])
    """Reference arms added to the trained ones."""


@dataclass
class AlignConfig:
    """One ``mtrec align`` run."""

    seqrec: SeqRecConfig = field(default_factory=SeqRecConfig)
    """Training of every sequential arm (the reward section's transform applies to MTRec arms)."""
    models: list[str] = field(default_factory=lambda: ["sasrec"])
    """Sequential models: sasrec and/or gru4rec."""
    variants: list[str] = field(default_factory=lambda: ["plain", "mean", "cvar"])
    """plain (click-trained twin), mean (MTRec) and cvar (risk-aware MTRec)."""
    use_ray: bool = False
    """Train the sequential arms through Ray Train (false: the plain in-process loop)."""
    num_workers: int = 1
    """Ray Train workers per sequential arm."""
    rl: RLArmsConfig = field(default_factory=RLArmsConfig)
    """PPO arms (needs ``--sim``); an empty rewards list skips them."""
    ab: ABSettings = field(default_factory=ABSettings)
    """A/B test (world data only)."""

    def validate(self) -> None:
        """Raise ConfigError with a fix-it message."""
        bad = [m for m in self.models if m not in ("sasrec", "gru4rec")]
        if bad:
            raise ConfigError(f"models must be sasrec and/or gru4rec, got {bad}")
        bad = [v for v in self.variants if v not in VARIANT_SIGNAL]
        if bad:
            raise ConfigError(f"variants must be among {list(VARIANT_SIGNAL)}, got {bad}")
        if self.num_workers < 1:
            raise ConfigError("num_workers must be >= 1")
        self.seqrec.validate()
        self.rl.validate()


def start_local_ray(address: str | None) -> None:
    """Start our own local Ray when ``address`` is None (see ``mtrec_ray.ray_utils.init_ray``)."""
    from mtrec_ray.ray_utils import init_ray

    if address in (None, "", "local"):
        init_ray(address, quiet=True)


# ----------------------------------------------------------------------- arm names


def seqrec_arm_name(model: str, variant: str) -> str:
    """``sasrec``, ``mtrec-sasrec`` (mean weights) or ``mtrec-cvar-sasrec`` (CVaR weights)."""
    if variant == "plain":
        return model
    if variant == "mean":
        return f"mtrec-{model}"
    return f"mtrec-{variant}-{model}"


def is_mtrec_arm(name: str) -> bool:
    """Whether the arm is guided by the learned mental reward."""
    return name.startswith("mtrec-") or name == "ppo-mental"


def click_twin(name: str) -> str | None:
    """The click-trained twin of an MTRec arm (None for other arms)."""
    if name == "ppo-mental":
        return "ppo-click"
    if not name.startswith("mtrec-"):
        return None
    base = name[len("mtrec-") :]
    for variant in VARIANT_SIGNAL:
        if base.startswith(f"{variant}-"):
            return base[len(variant) + 1 :]
    return base


@dataclass
class ArmPair:
    """An MTRec arm and what it is compared with."""

    arm: str
    """The reward-guided arm."""
    reference: str
    """Its click-trained twin or the watch-time arm."""
    kind: str
    """click_twin or watch_time."""


def arm_pairs(names: Sequence[str]) -> list[ArmPair]:
    """Every MTRec arm with its click-trained twin and with the watch-time arm, if present."""
    present = set(names)
    pairs = []
    for name in names:
        if not is_mtrec_arm(name):
            continue
        twin = click_twin(name)
        if twin in present:
            pairs.append(ArmPair(arm=name, reference=twin, kind="click_twin"))
        if WATCH_TIME_ARM in present and name != WATCH_TIME_ARM:
            pairs.append(ArmPair(arm=name, reference=WATCH_TIME_ARM, kind="watch_time"))
    return pairs


# ----------------------------------------------------------------------- seqrec arms


@dataclass
class SeqArm:
    """A trained sequential arm."""

    name: str
    directory: Path
    trained: Any
    offline: dict[str, float]
    seconds: float

    def recommender(self) -> Any:
        """The arm behind the ``Recommender`` interface."""
        return self.trained.recommender(name=self.name)


def train_seqrec_arms(
    data_dir: str | Path,
    out_dir: str | Path,
    cfg: AlignConfig,
    *,
    reward_model: str | Path | None,
    log: Log | None = None,
) -> dict[str, SeqArm]:
    """Train every (model, variant) on the logs' consumed sequences; test-split metrics.

    Args:
        data_dir: prepared dataset (world logs or MovieLens).
        out_dir: arms go to ``out_dir/<arm name>/`` (``TrainedSeqRec.save``).
        cfg: which models and variants, and how to train them.
        reward_model: ``mtrec irl``'s ``model/`` directory (needed by MTRec variants).
        log: progress lines.
    """
    from mtrec_ray.data import load_dataset
    from mtrec_ray.eval.ranking import evaluate_ranking
    from mtrec_ray.seqrec import build_sequences, train_seqrec
    from mtrec_ray.training import ScalingOptions

    say = log or (lambda _m: None)
    out = Path(out_dir)
    seq = build_sequences(load_dataset(data_dir), max_len=cfg.seqrec.max_len)
    reward_fn = None
    if any(v != "plain" for v in cfg.variants):
        if reward_model is None:
            raise ConfigError("MTRec variants need the mental reward model (--model DIR from mtrec irl)")
        from mtrec_ray.irl.scoring import MentalRewardScorer

        reward_fn = MentalRewardScorer.load(reward_model).reward_fn
    arms: dict[str, SeqArm] = {}
    for model in cfg.models:
        for variant in cfg.variants:
            name = seqrec_arm_name(model, variant)
            sc = copy.deepcopy(cfg.seqrec)
            sc.model = model  # type: ignore[assignment]  # validated in AlignConfig.validate
            sc.reward.signal = VARIANT_SIGNAL[variant]  # type: ignore[assignment]  # a Literal value
            t0 = time.perf_counter()
            trained = train_seqrec(
                sc, seq, reward_fn=reward_fn if variant != "plain" else None, use_ray=cfg.use_ray,
                scaling=ScalingOptions(num_workers=cfg.num_workers), name=f"seqrec-{name}",
                storage_path=str((out / "ray_results").resolve()),
            )
            offline = evaluate_ranking(trained, seq, "test")
            seconds = time.perf_counter() - t0
            directory = trained.save(out / name)
            arms[name] = SeqArm(name=name, directory=directory, trained=trained, offline=offline, seconds=seconds)
            say(
                f"  {name}: test NDCG@10 {offline['ndcg@10']:.4f}, HR@10 {offline['hr@10']:.4f} "
                f"(best epoch {trained.best_epoch}, {seconds:.0f}s)"
            )
    return arms


# ----------------------------------------------------------------------- RL arms


@dataclass
class RLArm:
    """A trained PPO arm."""

    name: str
    run_dir: Path
    metrics: list[dict[str, Any]]
    seconds: float

    def recommender(self) -> Any:
        """The policy behind the ``Recommender`` interface."""
        from mtrec_ray.rl.policy import PolicyRecommender

        return PolicyRecommender.load(self.run_dir, name=self.name)


def rl_config(sim_dir: str | Path, reward: str, rl: RLArmsConfig, *, reward_model: str | Path | None,
              seed: int = 0, smoke: bool = False) -> Any:
    """The ``RLConfig`` of one PPO arm (as ``rl_configs/ppo_user_session_*.yaml``)."""
    from mtrec_ray.rl.config import PPOSettings, RLConfig, RunnersConfig, SimulatorSpecConfig

    spec = reward
    if reward == "mental":
        if reward_model is None:
            raise ConfigError("the ppo-mental arm needs the mental reward model (--model DIR)")
        spec = f"mental:{Path(reward_model).resolve()}"
    env = SimulatorSpecConfig(name="mtrec/UserSession-v0", kwargs={"artifact": str(Path(sim_dir).resolve())},
                              reward=spec)
    cfg = RLConfig(
        env=env,
        ppo=PPOSettings(lr=rl.lr, gamma=rl.gamma, entropy_coeff=rl.entropy_coeff,
                        train_batch_size=rl.train_batch_size, minibatch_size=rl.minibatch_size,
                        num_epochs=rl.num_epochs),
        runners=RunnersConfig(num_env_runners=1, num_envs_per_env_runner=rl.num_envs_per_env_runner),
        iterations=rl.iterations,
        checkpoint_every=rl.iterations,
        keep_checkpoints=1,
        seed=seed,
    )
    return cfg.as_smoke() if smoke else cfg


def train_rl_arms(
    sim_dir: str | Path,
    out_dir: str | Path,
    rl: RLArmsConfig,
    *,
    reward_model: str | Path | None,
    address: str | None = None,
    seed: int = 0,
    smoke: bool = False,
    log: Log | None = None,
) -> dict[str, RLArm]:
    """One PPO run per reward in the log-fitted simulator, the same budget each."""
    from mtrec_ray.rl.train import train_policy

    say = log or (lambda _m: None)
    arms: dict[str, RLArm] = {}
    for reward in rl.rewards:
        name = f"ppo-{reward}"
        cfg = rl_config(sim_dir, reward, rl, reward_model=reward_model, seed=seed, smoke=smoke)
        t0 = time.perf_counter()
        res = train_policy(cfg, out_dir=Path(out_dir) / name, address=address, quiet=True)
        seconds = time.perf_counter() - t0
        arms[name] = RLArm(name=name, run_dir=res.run_dir, metrics=res.metrics, seconds=seconds)
        last = res.metrics[-1]["episode_return_mean"] if res.metrics else None
        say(f"  {name}: {res.iterations} iterations, last return "
            f"{'n/a' if last is None else f'{last:.3f}'} ({seconds:.0f}s)")
    return arms


# ----------------------------------------------------------------------- A/B


def pair_lifts(
    per_user: dict[str, dict[str, np.ndarray]],
    pairs: Sequence[ArmPair],
    *,
    n_bootstrap: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Paired-bootstrap lift and difference of every pair's arm over its reference.

    Returns one row per pair: ``arm``, ``reference``, ``kind`` and, per A/B metric, the
    arm's ``{mean, ci95, lift, lift_ci95, diff, diff_ci95}`` (lift None where the
    reference mean is not positive).
    """
    from mtrec_ray.eval.ab import ArmResult, summarise

    rows = []
    for p in pairs:
        res = summarise(
            [ArmResult(p.reference, per_user[p.reference]), ArmResult(p.arm, per_user[p.arm])],
            control=p.reference, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed,
        )[p.arm]
        res.pop("seconds", None)
        rows.append({"arm": p.arm, "reference": p.reference, "kind": p.kind, **res})
    return rows


def headline(pairs: Sequence[dict[str, Any]], *, target: float = TARGET_LIFT) -> dict[str, Any]:
    """The best MTRec arm over its click-trained twin, and whether the target is met.

    Best = the largest viewing-time lift (difference where no lift is defined). The
    target: lift >= ``target``, its interval above zero, and true satisfaction not
    lower (the upper end of the satisfaction difference's interval >= 0).
    """
    twins = [p for p in pairs if p["kind"] == "click_twin"]
    if not twins:
        return {}

    def key(p: dict[str, Any]) -> float:
        vt = p["viewing_time"]
        return vt["lift"] if vt["lift"] is not None else vt["diff"]

    best = max(twins, key=key)
    vt, sat = best["viewing_time"], best["satisfaction"]
    out: dict[str, Any] = {
        "arm": best["arm"],
        "twin": best["reference"],
        "viewing_time_lift": vt["lift"],
        "viewing_time_lift_ci95": vt["lift_ci95"],
        "viewing_time_diff_min": vt["diff"],
        "viewing_time_diff_min_ci95": vt["diff_ci95"],
        "satisfaction_lift": sat["lift"],
        "satisfaction_lift_ci95": sat["lift_ci95"],
        "satisfaction_diff": sat["diff"],
        "satisfaction_diff_ci95": sat["diff_ci95"],
    }
    if sat["lift"] is None:
        out["satisfaction_lift_undefined_read_diff"] = "the twin's mean true satisfaction is <= 0"
    lift_ok = vt["lift"] is not None and vt["lift"] >= target and vt["lift_ci95"][0] > 0
    sat_ok = sat["diff_ci95"][1] >= 0
    out["satisfaction_not_lower"] = bool(sat_ok)
    out["target_met"] = bool(lift_ok and sat_ok)
    out["target"] = f"viewing-time lift >= {target:+.0%}, 95% CI above 0, satisfaction not lower"
    return out


def run_arms_ab(
    arms: Sequence[Any],
    world_dir: str | Path,
    ab: ABSettings,
    *,
    out_dir: str | Path | None = None,
    log: Log | None = None,
) -> dict[str, Any]:
    """Deploy every arm (plus the baselines) for the same world users; pairs and headline.

    Args:
        arms: Recommenders (or spec strings, see ``make_recommender``).
        world_dir: the prepared world dataset (its ``ground_truth/`` is the world).
        ab: users, horizon, seed, bootstraps and baseline arms.
        out_dir: writes ``ab.json``, ``ab.png`` and ``ab_lifts.png`` there.
        log: progress lines.

    Returns:
        ``{"control", "users", "arms": {name: {metric: {...}}}, "pairs": [...],
        "headline": {...}}``; the control of ``arms`` is ``random`` when present.
    """
    from envs.ground_truth_world import load_world_spec
    from mtrec_ray.eval.ab import METRICS, ArmResult, deploy, plot_ab, popularity_counts, summarise
    from mtrec_ray.recommenders import make_recommender, parse_arm

    say = log or (lambda _m: None)
    world = load_world_spec(str(world_dir))
    recs = []
    for arm in [*ab.baselines, *arms]:
        if isinstance(arm, str):
            pop = None
            if parse_arm(arm)[1] == "popularity":
                pop = popularity_counts(world, world_dir=str(world_dir), seed=ab.seed)
            arm = make_recommender(arm, n_items=world.n_items, popularity=pop, seed=ab.seed)
        if getattr(arm, "n_items", world.n_items) != world.n_items:
            raise ConfigError(f"arm {arm.name!r} knows {arm.n_items} items, the world has {world.n_items}")
        recs.append(arm)
    names = [r.name for r in recs]
    if len(set(names)) != len(names):
        raise ConfigError(f"arm names must be unique, got {names}")
    users = np.sort(np.random.default_rng([ab.seed, 0]).choice(
        world.n_users, size=min(ab.n_users, world.n_users), replace=False))
    per_user: dict[str, dict[str, np.ndarray]] = {}
    seconds: dict[str, float] = {}
    for rec in recs:
        t0 = time.perf_counter()
        per_user[rec.name] = deploy(world, rec, users=users, horizon_days=ab.horizon_days, seed=ab.seed)
        seconds[rec.name] = time.perf_counter() - t0
        pu = per_user[rec.name]
        say(f"  {rec.name}: viewing {np.mean(pu['viewing_time']):.2f} min/user, satisfaction "
            f"{np.nanmean(pu['satisfaction']):.3f}, CTR {np.mean(pu['ctr']):.3f} ({seconds[rec.name]:.1f}s)")
    control = "random" if "random" in names else names[0]
    summary = summarise([ArmResult(n, per_user[n], seconds[n]) for n in names], control=control,
                        n_bootstrap=ab.n_bootstrap, confidence=0.95, seed=ab.seed)
    pairs = pair_lifts(per_user, arm_pairs(names), n_bootstrap=ab.n_bootstrap, seed=ab.seed)
    report = {
        "world_dir": str(world_dir),
        "config": {"n_users": ab.n_users, "horizon_days": ab.horizon_days, "seed": ab.seed,
                   "n_bootstrap": ab.n_bootstrap},
        "users": int(users.size),
        "horizon_days": ab.horizon_days,
        "seed": ab.seed,
        "control": control,
        "metrics": METRICS,
        "arms": summary,
        "pairs": pairs,
        "headline": headline(pairs),
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "ab.json").write_text(json.dumps(report, indent=2, default=float))
        plot_ab(report, out / "ab.png")
        if pairs:
            plot_pair_lifts(pairs, out / "ab_lifts.png")
    return report


def plot_pair_lifts(pairs: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Viewing-time lift and satisfaction difference of each pair, with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{p['arm']}\nvs {p['reference']}" for p in pairs]
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.7 * len(pairs) + 2.0))
    for ax, metric, key, title in (
        (axes[0], "viewing_time", "lift", "viewing-time lift"),
        (axes[1], "satisfaction", "diff", "true-satisfaction difference"),
    ):
        vals, lo, hi = [], [], []
        for p in pairs:
            e = p[metric]
            k = key if e.get(key) is not None else "diff"
            v, ci = e[k], e[f"{k}_ci95"]
            vals.append(v)
            lo.append(v - ci[0])
            hi.append(ci[1] - v)
        y = np.arange(len(pairs))
        colors = ["tab:green" if p["kind"] == "click_twin" else "tab:orange" for p in pairs]
        ax.barh(y, vals, xerr=[lo, hi], color=colors, capsize=4)
        ax.axvline(0.0, color="black", lw=0.8)
        if metric == "viewing_time":
            ax.axvline(TARGET_LIFT, color="tab:red", ls="--", lw=0.8, label=f"target {TARGET_LIFT:+.0%}")
            ax.legend(loc="lower right")
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_title(f"{title} (95% paired bootstrap)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def plot_learning_curves(seq_arms: dict[str, SeqArm], rl_arms: dict[str, RLArm], path: str | Path) -> Path:
    """Validation NDCG@10 per epoch of the sequential arms; episode return per PPO iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for name, arm in seq_arms.items():
        h = arm.trained.history
        axes[0].plot([r["epoch"] for r in h], [r["valid_ndcg@10"] for r in h], marker=".", label=name)
    axes[0].set(xlabel="epoch", ylabel="valid NDCG@10", title="sequential arms")
    for name, rl_arm in rl_arms.items():
        rows = [m for m in rl_arm.metrics if m.get("episode_return_mean") is not None]
        axes[1].plot([m["iteration"] for m in rows], [m["episode_return_mean"] for m in rows], marker=".",
                     label=name)
    axes[1].set(xlabel="iteration", ylabel="episode return (own reward)", title="PPO arms in the simulator")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def offline_rows(seq_arms: dict[str, SeqArm]) -> list[dict[str, Any]]:
    """One row per sequential arm: its test-split ranking metrics and training time."""
    rows = []
    for name, arm in seq_arms.items():
        row: dict[str, Any] = {"arm": name}
        row.update({k: v for k, v in arm.offline.items() if k not in ("eval_seconds",)})
        row["best_epoch"] = arm.trained.best_epoch
        row["train_s"] = round(arm.seconds, 1)
        rows.append(row)
    return rows


def ab_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per arm: means with 95% intervals of the A/B metrics."""
    rows = []
    for name, res in report["arms"].items():
        row: dict[str, Any] = {"arm": name}
        for m in ("viewing_time", "satisfaction", "session_length", "ctr", "return_rate"):
            e = res[m]
            row[m] = f"{e['mean']:.3f} [{e['ci95'][0]:.3f}, {e['ci95'][1]:.3f}]"
        rows.append(row)
    return rows


def pair_rows(pairs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per pair: viewing-time lift and satisfaction difference with intervals."""

    def fmt(e: dict[str, Any], key: str, pct: bool) -> str:
        v, ci = e.get(key), e.get(f"{key}_ci95")
        if v is None or ci is None:
            return "n/a"
        return f"{v:+.1%} [{ci[0]:+.1%}, {ci[1]:+.1%}]" if pct else f"{v:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]"

    return [
        {
            "arm": p["arm"],
            "vs": p["reference"],
            "viewing_time_lift": fmt(p["viewing_time"], "lift", True),
            "satisfaction_diff": fmt(p["satisfaction"], "diff", False),
            "ctr_lift": fmt(p["ctr"], "lift", True),
        }
        for p in pairs
    ]

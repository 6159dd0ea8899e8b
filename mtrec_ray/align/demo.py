"""``mtrec demo`` end to end on the embedded default (ground-truth world, local Ray).

Stages (each prints a line when it starts and when it ends, with its time):

1. generate the world's logs (``mtrec generate``);
2. fit the log-based user-session simulator (``mtrec fit-sim``);
3. learn the mental reward (``mtrec irl``: Ray actors + Ray Train);
4. train SASRec and MTRec-SASRec on the consumed sequences, offline full ranking;
5. train PPO in the simulator with reward = click and = mental (same budget);
6. A/B in the ground-truth world: the four arms + random + popularity;
7. write ``report.html`` (plots embedded) and ``metrics.json``.

``run_demo`` returns the metrics dict written to ``metrics.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtrec_ray.align.pipeline import (
    ABSettings,
    AlignConfig,
    RLArmsConfig,
    ab_rows,
    offline_rows,
    pair_rows,
    plot_learning_curves,
    run_arms_ab,
    start_local_ray,
    train_rl_arms,
    train_seqrec_arms,
)
from mtrec_ray.align.report import Section, write_report
from mtrec_ray.progress import console_print
from mtrec_ray.seqrec.train import SeqRecConfig

#: Sizes per mode: (users, items, days).
DEMO_SIZES = {"full": (3000, 1000, 7.0), "quick": (1000, 500, 7.0), "smoke": (40, 80, 2.0)}
N_STAGES = 7


@dataclass
class DemoPlan:
    """What one demo mode trains and tests (sizes and budgets)."""

    mode: str
    users: int
    items: int
    days: float
    irl_baselines: bool
    seqrec: SeqRecConfig
    rl: RLArmsConfig
    ab: ABSettings
    sim_epochs: int = 8
    notes: list[str] = field(default_factory=list)


def demo_plan(mode: str, *, seed: int = 0) -> DemoPlan:
    """The sizes and budgets of ``full``, ``quick`` or ``smoke``."""
    users, items, days = DEMO_SIZES[mode]
    rewards = ["click", "mental"]
    if mode == "smoke":
        return DemoPlan(
            mode=mode, users=users, items=items, days=days, irl_baselines=False,
            seqrec=SeqRecConfig.smoke(max_epochs=2, patience=2, seed=seed),
            rl=RLArmsConfig(rewards=rewards, iterations=1),
            ab=ABSettings(n_users=20, horizon_days=1.0, seed=seed, n_bootstrap=200), sim_epochs=1,
        )
    seqrec = SeqRecConfig(max_epochs=40 if mode == "quick" else 100, patience=5 if mode == "quick" else 10,
                          seed=seed, device="cpu")
    return DemoPlan(
        mode=mode, users=users, items=items, days=days, irl_baselines=mode == "full", seqrec=seqrec,
        rl=RLArmsConfig(rewards=rewards, iterations=10 if mode == "quick" else 30),
        ab=ABSettings(n_users=500 if mode == "quick" else 1000, horizon_days=7.0, seed=seed),
    )


class _Stages:
    """Console lines per stage with wall times; the times also go to the metrics."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.t0 = time.perf_counter()
        self.i = 0

    @contextmanager
    def __call__(self, key: str, text: str) -> Iterator[None]:
        self.i += 1
        console_print(f"[bold]stage {self.i}/{N_STAGES}[/] {text} ...")
        t = time.perf_counter()
        yield
        self.times[key] = round(time.perf_counter() - t, 1)
        console_print(
            f"[bold]stage {self.i}/{N_STAGES}[/] {key} done in {self.times[key]:.1f}s "
            f"(total {time.perf_counter() - self.t0:.0f}s)"
        )


def run_demo(
    out: str | Path,
    *,
    mode: str = "full",
    preset: str = "default",
    seed: int = 0,
    address: str | None = None,
    world_overrides: list[str] | None = None,
    world_config_file: str | None = None,
) -> dict[str, Any]:
    """Run every stage into ``out``; returns (and writes) ``metrics.json``'s content."""
    import torch

    from envs.user_session import SimulatorFitConfig, fit_simulator
    from mtrec_ray.commands.data import WORLD_REPORT, generate_world_dataset
    from mtrec_ray.irl.experiment import IRLExperimentConfig, run_irl
    from mtrec_ray.ray_utils import init_ray

    torch.set_num_threads(1)
    plan = demo_plan(mode, seed=seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stage = _Stages()
    metrics: dict[str, Any] = {"mode": mode, "preset": preset, "seed": seed, "stages_s": stage.times}

    with stage("world", f"ground-truth world '{preset}' ({plan.users} users, {plan.items} items, {plan.days:g} days)"):
        data_dir = generate_world_dataset(
            preset=preset, out=out / "world", seed=seed, users=plan.users, items=plan.items, days=plan.days,
            overrides=world_overrides, config_file=world_config_file,
        )
        metrics["world"] = json.loads((data_dir / WORLD_REPORT).read_text())

    with stage("simulator", "fitting the log-based user-session simulator"):
        fit_simulator(data_dir, out / "sim", SimulatorFitConfig(epochs=plan.sim_epochs, seed=seed), log=console_print)

    with stage("irl", "learning the mental reward (QR-IQL: Ray actors + Ray Train)"):
        start_local_ray(address)
        init_ray(address)
        irl_cfg = IRLExperimentConfig(use_ray=True, baselines=plan.irl_baselines)
        if mode == "smoke":
            irl_cfg = irl_cfg.as_smoke()
        irl = run_irl(data_dir, out / "irl", irl_cfg, storage_path=str((out / "ray_results").resolve()),
                      name="irl", log=console_print)
        metrics["recovery"] = {k: irl.get(k) for k in ("spearman", "spearman_ci95") if k in irl}
        console_print(f"  reward recovery: Spearman {irl.get('spearman', float('nan')):.3f} vs the true satisfaction")

    model_dir = out / "irl" / "model"
    cfg = AlignConfig(seqrec=plan.seqrec, models=["sasrec"], variants=["plain", "mean"], rl=plan.rl, ab=plan.ab)
    with stage("seqrec", "training SASRec and MTRec-SASRec (full-catalogue cross-entropy)"):
        seq_arms = train_seqrec_arms(data_dir, out / "seqrec", cfg, reward_model=model_dir, log=console_print)
        metrics["offline"] = {
            "ndcg10_sasrec": seq_arms["sasrec"].offline["ndcg@10"],
            "ndcg10_mtrec_sasrec": seq_arms["mtrec-sasrec"].offline["ndcg@10"],
            "hr10_sasrec": seq_arms["sasrec"].offline["hr@10"],
            "hr10_mtrec_sasrec": seq_arms["mtrec-sasrec"].offline["hr@10"],
            "table": offline_rows(seq_arms),
        }

    with stage("rl", f"training PPO (click, mental) in the simulator, {plan.rl.iterations} iterations each"):
        rl_arms = train_rl_arms(out / "sim", out / "rl", plan.rl, reward_model=model_dir, address=address,
                                seed=seed, smoke=mode == "smoke", log=console_print)

    with stage("ab", f"A/B in the ground-truth world ({plan.ab.n_users} users, {plan.ab.horizon_days:g} days)"):
        arms = [a.recommender() for a in seq_arms.values()] + [a.recommender() for a in rl_arms.values()]
        ab = run_arms_ab(arms, data_dir, plan.ab, out_dir=out / "ab", log=console_print)
        metrics["ab"] = {**ab["headline"], "pairs": pair_rows(ab["pairs"]), "control": ab["control"],
                         "users": ab["users"]}

    with stage("report", "writing report.html and metrics.json"):
        plot_learning_curves(seq_arms, rl_arms, out / "learning_curves_arms.png")
        metrics["total_s"] = round(time.perf_counter() - stage.t0, 1)
        report = write_report(out / "report.html", title=f"mtrec demo ({mode})",
                              status=_status_html(metrics), sections=_sections(out, metrics, ab))
        metrics["report"] = str(report)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    metrics["total_s"] = round(time.perf_counter() - stage.t0, 1)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    return metrics


def _status_html(metrics: dict[str, Any]) -> str:
    ab = metrics.get("ab", {})
    if not ab.get("arm"):
        return ""
    lift, ci = ab.get("viewing_time_lift"), ab.get("viewing_time_lift_ci95")
    met = ab.get("target_met")
    lift_txt = "n/a" if lift is None else f"{lift:+.1%} [{ci[0]:+.1%}, {ci[1]:+.1%}]"
    sat = ab.get("satisfaction_diff")
    sci = ab.get("satisfaction_diff_ci95") or [float("nan")] * 2
    return (
        f"<p>Best MTRec arm <b>{ab['arm']}</b> vs its click-trained twin <b>{ab['twin']}</b>: viewing time "
        f"{lift_txt}, true satisfaction difference {sat:+.3f} [{sci[0]:+.3f}, {sci[1]:+.3f}]. "
        f"Target ({ab.get('target')}): <span class='{'ok' if met else 'bad'}'>"
        f"{'met' if met else 'not met'}</span>. Reward recovery Spearman "
        f"{metrics.get('recovery', {}).get('spearman', float('nan')):.3f}. "
        f"Total {metrics.get('total_s', 0):.0f}s.</p>"
    )


def _sections(out: Path, metrics: dict[str, Any], ab: dict[str, Any]) -> list[Section]:
    irl = out / "irl"
    times = [{"stage": k, "seconds": v} for k, v in metrics["stages_s"].items()]
    return [
        Section(
            "Mental reward recovery",
            paragraphs=["QR-IQL reward learned from the logs, compared with the world's hidden satisfaction."],
            tables=[("recovery", [{k: v for k, v in metrics.get("recovery", {}).items() if not isinstance(v, list)}])],
            images=[("recovery scatter", irl / "recovery_scatter.png"), ("quantile fans", irl / "quantile_fans.png"),
                    ("calibration", irl / "calibration.png"), ("IRL learning curves", irl / "learning_curves.png")],
        ),
        Section(
            "Offline ranking (leave-one-out, full catalogue, test split)",
            tables=[("world logs", metrics["offline"]["table"])],
            images=[("learning curves of the arms", out / "learning_curves_arms.png")],
        ),
        Section(
            "A/B test in the ground-truth world",
            paragraphs=[f"{ab['users']} users, {ab['horizon_days']:g} days, common random numbers; "
                        f"means with 95% bootstrap intervals (control for ab.json lifts: {ab['control']})."],
            tables=[("arms", ab_rows(ab)), ("MTRec arms vs their click-trained twins", pair_rows(ab["pairs"]))],
            images=[("arm means with 95% intervals", out / "ab" / "ab.png"),
                    ("paired lifts (green: vs click twin, orange: vs watch time)", out / "ab" / "ab_lifts.png")],
        ),
        Section("Timings", tables=[("seconds per stage", times)]),
    ]

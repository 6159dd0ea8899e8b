"""``mtrec fit-sim``, ``mtrec fidelity``, ``mtrec rl``, ``mtrec ab``: simulators and policies."""

from __future__ import annotations

import argparse

from mtrec_ray.cli import _common, _print_json, command
from mtrec_ray.progress import console_print
from mtrec_ray.storage import local_input, output_dir


def _fit_sim_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="prepared dataset (mtrec ingest / mtrec generate)")
    _common(p, out_default=None)


@command(
    "fit-sim",
    "Fit the user response model (click, watch ratio, leave) on logs: the log-fitted simulator. "
    "Config keys (--config/--set): SimulatorFitConfig, e.g. --set epochs=4 --set holdout_fraction=0.2.",
    _fit_sim_args,
)
def cmd_fit_sim(args: argparse.Namespace) -> int:
    from envs.user_session import SimulatorFitConfig, fit_simulator
    from mtrec_ray.config import load_config

    cfg = load_config(SimulatorFitConfig, args.config, args.set)
    if args.smoke:
        cfg.epochs = min(cfg.epochs, 2)
    with output_dir(args.out) as out:
        fit_simulator(local_input(args.data), out, cfg, log=console_print)
        console_print(f"[green]simulator saved[/] -> {args.out}")
    return 0


def _fidelity_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sim", required=True, help="simulator artifact (mtrec fit-sim, with a user hold-out)")
    p.add_argument("--data", required=True, help="the dataset it was fitted on")
    p.add_argument("--sessions", type=int, default=2000, help="simulated sessions (default: 2000)")
    _common(p, out_default=None)


@command("fidelity", "Compare a fitted simulator with held-out logs (and the world itself, for world data).", _fidelity_args)
def cmd_fidelity(args: argparse.Namespace) -> int:
    from mtrec_ray.eval.fidelity import fidelity_report

    with output_dir(args.out) as out:
        report = fidelity_report(
            local_input(args.sim), local_input(args.data),
            n_sessions=100 if args.smoke else args.sessions, seed=args.seed, out_dir=out,
        )
    _print_json(report)
    return 0


def _rl_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-resume",
        action="store_true",
        help="refuse to continue an existing run in --out (default: resume from its latest checkpoint)",
    )
    _common(p, out_default=None)


@command(
    "rl",
    "Train an RLlib policy (PPO, new API stack) in a registered simulator with a chosen reward "
    "(click, watch_time, mental:DIR, satisfaction in the world). See rl_configs/*.yaml.",
    _rl_args,
)
def cmd_rl(args: argparse.Namespace) -> int:
    from mtrec_ray.rl.train import load_rl_config, train_policy

    cfg = load_rl_config(args.config, args.set)
    if args.smoke:
        cfg = cfg.as_smoke()
    with output_dir(args.out) as out:
        res = train_policy(cfg, out_dir=out, address=args.address, resume=not args.no_resume)
        summary = {
            "run_dir": str(args.out),
            "iterations": res.iterations,
            "resumed_from": res.resumed_from,
            "seconds_per_iteration": res.seconds_per_iteration,
            "last": res.metrics[-1] if res.metrics else {},
        }
    _print_json(summary)
    return 0


def _ab_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--arms",
        required=True,
        help="comma-separated arms: random, popularity, policy:RUN_DIR (mtrec rl), "
        "module.path:Factory; each optionally as NAME=SPEC (e.g. ppo_click=policy:runs/ppo)",
    )
    p.add_argument("--users", type=int, default=500, help="users sampled from the world (default: 500)")
    p.add_argument("--days", type=float, default=7.0, help="days simulated per user (default: 7)")
    p.add_argument("--world", default="", help="world dataset directory (default: a fresh 'default' world)")
    p.add_argument("--control", default="", help="arm the lifts are measured against (default: the first)")
    _common(p, out_default=None)


@command(
    "ab",
    "A/B test recommenders in the ground-truth world: viewing time, true satisfaction, session "
    "length, CTR, return rate per arm with 95%% intervals and lifts over a control.",
    _ab_args,
)
def cmd_ab(args: argparse.Namespace) -> int:
    from mtrec_ray.eval.ab import ABConfig, run_ab

    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    cfg = ABConfig(
        world_dir=str(local_input(args.world)) if args.world else "",
        n_users=min(args.users, 40) if args.smoke else args.users,
        horizon_days=min(args.days, 2.0) if args.smoke else args.days,
        control=args.control,
        seed=args.seed,
    )
    with output_dir(args.out) as out:
        report = run_ab(arms, cfg, out_dir=out)
    _print_json({"control": report["control"], "arms": report["arms"]})
    return 0



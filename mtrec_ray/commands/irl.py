"""``mtrec irl`` and ``mtrec reward``: learn the mental reward model, score items with it."""

from __future__ import annotations

import argparse
from pathlib import Path

from mtrec_ray.cli import _common, _print_json, command
from mtrec_ray.progress import console_print
from mtrec_ray.storage import local_input, output_dir, storage_path


def _irl_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="prepared dataset (mtrec generate / mtrec ingest), path or URI")
    p.add_argument("--name", default="irl", help="Ray Train run name; re-running with the same --out and name resumes")
    _common(p, out_default=None)


@command(
    "irl",
    "Learn the distributional mental reward model (QR-IQL) with Ray actors + a Ray Train learner; "
    "writes model/, metrics.json, history.json and plots. Config sections: irl, distributed, "
    "baseline; top-level keys use_ray, baselines, n_boot, ... (mtrec_ray.irl.experiment).",
    _irl_args,
)
def cmd_irl(args: argparse.Namespace) -> int:
    from mtrec_ray.config import load_config
    from mtrec_ray.irl.experiment import IRLExperimentConfig, run_irl
    from mtrec_ray.ray_utils import init_ray

    if args.smoke:  # the smoke variant replaces the defaults; the file and --set still apply
        from mtrec_ray.config import from_dict, merge_overrides, read_yaml, to_dict

        data = to_dict(IRLExperimentConfig().as_smoke())
        data = _deep_update(data, read_yaml(args.config) if args.config else {})
        cfg = from_dict(IRLExperimentConfig, merge_overrides(data, args.set))
    else:
        cfg = load_config(IRLExperimentConfig, args.config, args.set)
    if cfg.use_ray:
        init_ray(args.address)
    data = local_input(args.data)
    with output_dir(args.out) as out:
        metrics = run_irl(
            data, out, cfg, storage_path=storage_path(args.out), name=args.name, log=console_print,
        )
        console_print(f"[green]mental reward model saved[/] -> {Path(args.out) / 'model'}")
    _print_json({k: v for k, v in metrics.items() if not isinstance(v, (dict, list)) or k.endswith("ci95")})
    return 0


def _deep_update(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _reward_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="mental reward model artifact (mtrec irl's OUT/model)")
    p.add_argument("--data", required=True, help="prepared dataset whose logged events are scored")
    p.add_argument(
        "--items",
        default="",
        help="comma-separated candidate item ids to score in every state instead of the logged items",
    )
    p.add_argument("--cvar-alpha", type=float, default=0.1, help="CVaR level (default: 0.1)")
    p.add_argument("--limit", type=int, default=0, help="score only the first N events (0: all)")
    _common(p, out_default=None)


@command(
    "reward",
    "Score logged (or candidate) items with a mental reward model: mean, std, CVaR and quantiles "
    "per (state, item), written to OUT/rewards.parquet.",
    _reward_args,
)
def cmd_reward(args: argparse.Namespace) -> int:
    from mtrec_ray.irl.scoring import score_dataset

    with output_dir(args.out) as out:
        table = score_dataset(
            local_input(args.model), local_input(args.data),
            items=[int(x) for x in args.items.split(",") if x.strip()] or None,
            cvar_alpha=args.cvar_alpha, limit=args.limit or None,
        )
        table.to_parquet(Path(out) / "rewards.parquet", index=False)
        summary = {
            "rows": len(table),
            "mean": float(table["mean"].mean()),
            "std_mean": float(table["std"].mean()),
            "file": str(Path(args.out) / "rewards.parquet"),
        }
    _print_json(summary)
    return 0



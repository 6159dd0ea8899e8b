"""``mtrec demo``: the main job on the embedded default (ground-truth world, local Ray).

How to run::

    mtrec demo --out runs/demo            # the full preset
    mtrec demo --quick --out runs/demo    # smaller sizes, under 10 minutes on 2 CPU cores

What you should see: a start and an end line (with its time) for each of the seven
stages (world, simulator, mental reward, SASRec / MTRec-SASRec, PPO click / mental,
A/B, report), then ``runs/demo/report.html`` (self-contained) and
``runs/demo/metrics.json`` (``recovery.spearman``, ``ab.viewing_time_lift``,
``ab.viewing_time_lift_ci95``, ``ab.satisfaction_lift``, ``offline.ndcg10_sasrec``,
``offline.ndcg10_mtrec_sasrec``, ...). ``--set`` / ``--config`` keys apply to the world.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mtrec_ray.cli import _common, _print_json, command
from mtrec_ray.progress import console_print
from mtrec_ray.storage import output_dir


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="smaller sizes (under 10 minutes on 2 CPU cores)")
    p.add_argument("--preset", default="default", help="world preset (default: default)")
    _common(p, out_default="runs/demo")


@command(
    "demo",
    "The main job: world logs -> simulator -> mental reward -> SASRec / MTRec-SASRec and PPO "
    "(click, mental) -> A/B in the ground-truth world -> report.html and metrics.json.",
    _demo_args,
)
def cmd_demo(args: argparse.Namespace) -> int:
    from mtrec_ray.align.demo import run_demo

    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    with output_dir(args.out) as out:
        metrics = run_demo(out, mode=mode, preset=args.preset, seed=args.seed, address=args.address,
                           world_overrides=args.set, world_config_file=args.config)
    keys = ("viewing_time_lift", "viewing_time_lift_ci95", "satisfaction_lift", "satisfaction_diff",
            "satisfaction_diff_ci95", "arm", "twin", "target_met")
    _print_json({
        "recovery.spearman": metrics.get("recovery", {}).get("spearman"),
        **{f"ab.{k}": metrics["ab"].get(k) for k in keys},
        "offline.ndcg10_sasrec": metrics["offline"]["ndcg10_sasrec"],
        "offline.ndcg10_mtrec_sasrec": metrics["offline"]["ndcg10_mtrec_sasrec"],
        "total_s": metrics["total_s"],
    })
    console_print(f"[green]demo done[/] in {metrics['total_s']:.0f}s: {Path(args.out) / 'report.html'}, "
                  f"{Path(args.out) / 'metrics.json'}")
    return 0

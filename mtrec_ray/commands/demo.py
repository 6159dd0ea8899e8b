"""``mtrec demo``: the main job on the embedded default (ground-truth world, local Ray).

How to run::

    mtrec demo --out runs/demo            # the full preset
    mtrec demo --quick --out runs/demo    # smaller sizes, minutes on a laptop

What you should see: progress for each stage, then ``runs/demo/metrics.json`` with
the world's statistics and every later stage's metrics.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from mtrec_ray.cli import _common, _print_json, command
from mtrec_ray.commands.data import WORLD_REPORT, generate_world_dataset
from mtrec_ray.progress import console_print
from mtrec_ray.storage import output_dir

#: Sizes per mode: (users, items, days).
DEMO_SIZES = {"full": (3000, 1000, 7.0), "quick": (1000, 500, 7.0), "smoke": (40, 80, 2.0)}


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="smaller sizes (under 10 minutes on 2 CPU cores)")
    p.add_argument("--preset", default="default", help="world preset (default: default)")
    _common(p, out_default="runs/demo")


@command("demo", "The main job: generate the ground-truth world and run the pipeline on it.", _demo_args)
def cmd_demo(args: argparse.Namespace) -> int:
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    users, items, days = DEMO_SIZES[mode]
    metrics: dict = {"mode": mode, "preset": args.preset, "seed": args.seed, "stages_s": {}}
    with output_dir(args.out) as out:
        t0 = time.perf_counter()
        console_print(f"[bold]stage 1[/]: ground-truth world '{args.preset}' ({users} users, {items} items)")
        data_dir = generate_world_dataset(
            preset=args.preset, out=Path(out) / "world", seed=args.seed,
            users=users, items=items, days=days, overrides=args.set, config_file=args.config,
        )
        metrics["world"] = json.loads((data_dir / WORLD_REPORT).read_text())
        metrics["stages_s"]["world"] = time.perf_counter() - t0
        (Path(out) / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
        _print_json(metrics)
        console_print(f"[green]demo done[/]: {Path(args.out) / 'metrics.json'}")
    return 0

"""``mtrec tune``: Ray Tune over the mental-reward learner, from a file in tune_configs/."""

from __future__ import annotations

import argparse

from mtrec_ray.cli import _common, _print_json, command
from mtrec_ray.errors import ConfigError
from mtrec_ray.progress import console_print
from mtrec_ray.storage import output_dir


def _tune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--num-samples", type=int, default=None, help="samples of the search space (overrides the file)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted experiment stored under --out (finished trials are kept)",
    )
    _common(p, out_default="runs/tune")


@command(
    "tune",
    "Search mental-reward architectures and hyper-parameters with Ray Tune (ASHA on the held-out "
    "behaviour NLL; recovery Spearman reported on world data). --config is a tune_configs/*.yaml "
    "file; writes results.csv, history.csv, objective.png, best_config.yaml and summary.json.",
    _tune_args,
)
def cmd_tune(args: argparse.Namespace) -> int:
    from mtrec_ray.ray_utils import init_ray
    from mtrec_ray.tune.config import load_tune_config
    from mtrec_ray.tune.runner import run_tune

    if not args.config:
        raise ConfigError("mtrec tune needs --config, e.g. --config tune_configs/quick.yaml")
    cfg = load_tune_config(args.config, args.set, smoke=args.smoke, num_samples=args.num_samples)
    init_ray(args.address)
    with output_dir(args.out) as out:
        summary = run_tune(cfg, out, root=str(args.out), resume=args.resume, seed=args.seed, log=console_print)
    _print_json(summary)
    return 0

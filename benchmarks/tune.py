"""Ray Tune over the QR-IQL learner: trials per hour for ``tune_configs/quick.yaml``, and
the overhead of a trial over the same training run outside Tune, measured in one run.

How to run::

    python benchmarks/tune.py              # quick.yaml (6 trials, ASHA) + 10 FIFO trials, ~12 min
    python benchmarks/tune.py --smoke      # its smoke variant (3 tiny trials), ~4 min
    python benchmarks/tune.py --repeats 1 --fifo-samples 0   # one overhead pair, no FIFO run

What you should see: the per-trial lines of ``mtrec tune`` and its summary table, then
the overhead pairs (the best configuration trained with ``train_main`` outside Tune, then
as the single trial of a one-sample Tune experiment, alternating), then quick.yaml's space
again with FIFO (no early stopping, every trial trains to the end: the rank correlation
between objective and recovery among fully trained models), and a JSON summary
printed and saved to ``benchmarks/results/tune.json`` (``tune_smoke.json`` with
``--smoke``): trials per hour (trials that finished, completed or stopped early, per
hour of ``Tuner.fit``), the objective-vs-recovery rank correlation across trials, and
``overhead_ratio`` = one-trial Tune experiment wall time / outside-Tune wall time
(both include data preparation, the distributed learner and the evaluation).
Numbers are in ``benchmarks/README.md`` ("Tune").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtrec_ray.config import load_config, to_dict  # noqa: E402
from mtrec_ray.irl.experiment import (  # noqa: E402
    IRLExperimentConfig,
    evaluate_main,
    prepare_inputs,
    train_main,
)
from mtrec_ray.progress import console_print  # noqa: E402
from mtrec_ray.tune.config import load_tune_config  # noqa: E402
from mtrec_ray.tune.runner import TrialSetup, run_tune, trainable  # noqa: E402

QUICK = ROOT / "tune_configs" / "quick.yaml"


def outside_tune(data: str, cfg: IRLExperimentConfig, storage: Path, name: str) -> dict:
    """prepare_inputs + train_main (Ray actors + Ray Train, no Tune) + evaluate_main."""
    t0 = time.perf_counter()
    inputs = prepare_inputs(data, cfg)
    result = train_main(inputs, cfg, name=name, storage_path=str(storage), in_tune=False)
    metrics = evaluate_main(inputs, result, cfg)
    return {"seconds": time.perf_counter() - t0, "epochs": metrics["epochs"], "valid_nll": metrics["valid_nll"]}


def inside_tune(data: str, cfg: IRLExperimentConfig, storage: Path, name: str) -> dict:
    """The same run as the single trial of a one-sample Tune experiment (FIFO)."""
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler
    from ray.tune.search import BasicVariantGenerator

    setup = TrialSetup(data=data, train_storage=str(storage / f"{name}_train"))
    tuner = tune.Tuner(
        trainable(setup),
        param_space=to_dict(cfg),
        tune_config=tune.TuneConfig(
            metric="valid_nll", mode="min", num_samples=1, scheduler=FIFOScheduler(),
            search_alg=BasicVariantGenerator(max_concurrent=1),
        ),
        run_config=tune.RunConfig(name=name, storage_path=str(storage), verbose=0),
    )
    t0 = time.perf_counter()
    grid = tuner.fit()
    seconds = time.perf_counter() - t0
    m = grid[0].metrics
    return {
        "seconds": seconds,
        "trial_seconds": float(m["trial_seconds"]),
        "epochs": int(m["epochs"]),
        "valid_nll": float(m["valid_nll"]),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns a process exit code."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="the smoke variant of quick.yaml")
    ap.add_argument("--repeats", type=int, default=2, help="overhead pairs (outside, inside), alternating")
    ap.add_argument("--fifo-samples", type=int, default=10,
                    help="trials of the FIFO run for the rank correlation (0: skip)")
    ap.add_argument("--out", default=None, help="experiment folder (default: a temporary one)")
    args = ap.parse_args(argv)

    import ray
    import torch

    torch.set_num_threads(1)
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="mtrec_bench_tune_"))
    shutil.rmtree(work, ignore_errors=True)
    cfg = load_tune_config(QUICK, smoke=args.smoke)

    t0 = time.perf_counter()
    summary = run_tune(cfg, work / "tune", log=console_print)
    experiment_seconds = time.perf_counter() - t0

    best = load_config(IRLExperimentConfig, work / "tune" / "best_config.yaml")
    pairs = []
    for r in range(args.repeats):
        console_print(f"overhead pair {r + 1}/{args.repeats}: outside Tune, then inside")
        plain = outside_tune(summary["data"], best, work / "overhead", f"plain_{r}")
        tuned = inside_tune(summary["data"], best, work / "overhead", f"tuned_{r}")
        pairs.append({"outside": plain, "inside": tuned, "ratio": tuned["seconds"] / plain["seconds"]})
        console_print(
            f"  outside {plain['seconds']:.1f}s ({plain['epochs']} epochs), inside {tuned['seconds']:.1f}s "
            f"(trial body {tuned['trial_seconds']:.1f}s, {tuned['epochs']} epochs): ratio {pairs[-1]['ratio']:.2f}"
        )
    fifo = None
    if args.fifo_samples:
        fifo_cfg = load_tune_config(
            QUICK, ["scheduler.type=fifo", "name=quick_fifo", f"data.dir={summary['data']}"],
            smoke=args.smoke, num_samples=args.fifo_samples,
        )
        fifo = run_tune(fifo_cfg, work / "fifo", log=console_print)
    out = {
        "config": "tune_configs/quick.yaml" + (" --smoke" if args.smoke else ""),
        "cpus": os.cpu_count(),
        "trials": summary["trials"],
        "completed": summary["completed"],
        "stopped_early": summary["stopped_early"],
        "errors": summary["errors"],
        "fit_seconds": round(summary["fit_seconds"], 1),
        "experiment_seconds": round(experiment_seconds, 1),
        "trials_per_hour": round(summary["trials_per_hour"], 1),
        "trials_per_hour_end_to_end": round(summary["trials"] / experiment_seconds * 3600, 1),
        "objective_vs_recovery": summary["objective_vs_recovery"],
        "best": summary.get("best"),
        "overhead_pairs": pairs,
        "overhead_ratio": round(statistics.median(p["ratio"] for p in pairs), 3),
        "overhead_ratio_trial_body": round(
            statistics.median(p["inside"]["trial_seconds"] / p["outside"]["seconds"] for p in pairs), 3
        ),
        "fifo": None if fifo is None else {
            "trials": fifo["trials"],
            "completed": fifo["completed"],
            "fit_seconds": round(fifo["fit_seconds"], 1),
            "trials_per_hour": round(fifo["trials_per_hour"], 1),
            "objective_vs_recovery": fifo["objective_vs_recovery"],
            "results_table": json.loads(
                __import__("pandas").read_csv(work / "fifo" / "results.csv").to_json(orient="records")
            ),
        },
        "results_table": json.loads(
            __import__("pandas").read_csv(work / "tune" / "results.csv").to_json(orient="records")
        ),
    }
    text = json.dumps(out, indent=2, default=float)
    print(text)
    results = ROOT / "benchmarks" / "results" / ("tune_smoke.json" if args.smoke else "tune.json")
    results.write_text(text + "\n")
    ray.shutdown()
    if not args.out:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

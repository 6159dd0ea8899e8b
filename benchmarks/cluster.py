"""``mtrec irl`` as a Ray job on a two-node cluster against the same run on a local Ray,
and what Ray's worker priority does to it when other processes load the cores.

How to run::

    python benchmarks/cluster.py                    # local vs two-node job, 3 pairs, ~5 min
    python benchmarks/cluster.py --contention 4     # + 4 busy processes, workers at nice 0 vs 15

What you should see: for each repeat, the local wall time (``python -m mtrec_ray irl
--address local``: starts its own Ray, loads, trains, evaluates) and the cluster wall
time (the same command submitted through the Jobs API to a head and a worker node
started by ``tests/two_node_cluster.py``: submission to SUCCEEDED), then a JSON summary
printed and saved to ``benchmarks/results/cluster.json``: median seconds of each and
``job_over_local`` = cluster / local (what the Jobs API, a second node and the
cross-node actors cost on one machine). With ``--contention N``, N busy-looping
processes run during two more jobs, one with Ray's workers at normal priority
(``RAY_worker_niceness=0``, what the test suite sets) and one at Ray's default nice 15,
each capped at ``--cap`` seconds: ``contention_nice15_over_nice0``. Numbers are in
``benchmarks/README.md`` ("Cluster").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtrec_ray.commands.data import generate_world_dataset  # noqa: E402
from mtrec_ray.progress import console_print  # noqa: E402
from tests.two_node_cluster import submit_and_wait, two_node_cluster  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "cluster.json"
NICE0 = {"RAY_worker_niceness": "0"}  # Ray's workers at normal priority, as in the test suite
SETTINGS = ["--smoke", "--set", "baselines=false", "--set", "distributed.num_shards=2",
            "--set", "irl.epochs=1"]


def irl_command(world: Path, out: Path, address: str) -> list[str]:
    """The measured command: a small ``mtrec irl`` run."""
    return [sys.executable, "-m", "mtrec_ray", "irl", "--data", str(world), "--out", str(out),
            "--address", address, *SETTINGS]


def run_local(world: Path, out: Path) -> float:
    """Wall seconds of the command on its own local Ray."""
    t0 = time.perf_counter()
    subprocess.run(irl_command(world, out, "local"), check=True, capture_output=True)
    return time.perf_counter() - t0


def run_job(url: str, world: Path, out: Path, cap: float) -> float:
    """Seconds from submission to SUCCEEDED (inf when the job is still running at ``cap``)."""
    job = submit_and_wait(url, irl_command(world, out, "auto"), timeout=cap)
    if job.timed_out:
        return float("inf")
    if job.status != "SUCCEEDED":
        raise RuntimeError(f"job {job.status}:\n{job.logs[-3000:]}")
    return job.seconds


def with_busy_cores(n: int):  # noqa: ANN201 - a list of processes
    """Start ``n`` busy-looping processes at normal priority."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--contention", type=int, default=0, help="busy processes for the priority runs")
    ap.add_argument("--cap", type=float, default=420.0, help="seconds before a contended job is stopped")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mtrec_cluster_bench_"))
    try:
        world = generate_world_dataset(preset="default", out=tmp / "world", seed=0, users=80,
                                       items=80, days=2.0, quiet=True)
        local, job = [], []
        with two_node_cluster(NICE0) as url:
            for r in range(args.repeats):
                local.append(run_local(world, tmp / f"local{r}"))
                job.append(run_job(url, world, tmp / f"job{r}", cap=args.cap))
                console_print(f"repeat {r}: local {local[-1]:.1f} s, two-node job {job[-1]:.1f} s")
        result: dict = {
            "command": "mtrec irl " + " ".join(SETTINGS),
            "repeats": args.repeats,
            "local_seconds": statistics.median(local),
            "job_seconds": statistics.median(job),
            "job_over_local": statistics.median(job) / statistics.median(local),
            "local_runs": local,
            "job_runs": job,
        }
        if args.contention:
            seconds = {}
            for niceness in (0, 15):
                with two_node_cluster({"RAY_worker_niceness": str(niceness)}) as url:
                    busy = with_busy_cores(args.contention)
                    try:
                        seconds[niceness] = run_job(url, world, tmp / f"nice{niceness}", cap=args.cap)
                    finally:
                        for p in busy:
                            p.kill()
                stopped = seconds[niceness] == float("inf")
                shown = f"> {args.cap:.0f} s (stopped)" if stopped else f"{seconds[niceness]:.1f} s"
                console_print(f"{args.contention} busy processes, workers at nice {niceness}: {shown}")
                # JSON has no infinity: a stopped job counts as the cap, and the ratio
                # becomes a lower bound
                result[f"contention_nice{niceness}_seconds"] = min(seconds[niceness], args.cap)
                result[f"contention_nice{niceness}_stopped_at_cap"] = stopped
            result["contention_processes"] = args.contention
            result["contention_nice15_over_nice0"] = (
                result["contention_nice15_seconds"] / result["contention_nice0_seconds"])
        print(json.dumps(result, indent=2))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

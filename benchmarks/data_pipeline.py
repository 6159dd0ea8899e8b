"""Data-pipeline throughput: world generation and ingest of ~1M events.

How to run::

    python benchmarks/data_pipeline.py [--events 1000000]

What you should see: two timings (each target < 30 s on a 2-core machine), events per
second for each, and the JSON written to ``benchmarks/results/data_pipeline.json``.

1. ``generate``: the ground-truth world (``default`` preset) simulates users until about
   ``--events`` logged exposures exist (logs + ground-truth tables built in memory).
2. ``ingest``: those logs are written to a CSV (not timed), then ``ingest("csv", ...)``
   parses, validates every column, sessionises by inactivity gap, splits (leave-one-out
   and global time) and writes the prepared dataset (timed).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "data_pipeline.json"


def main() -> dict:
    """Run both measurements and save the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    from envs.ground_truth_world import generate_logs, world_config
    from mtrec_ray.data.dataset import ingest
    from mtrec_ray.data.mapping import ColumnMapping

    cfg = world_config("default")
    # Calibrate users per event on a small run, then size the big one.
    probe = generate_logs(cfg, seed=1, n_users=200)
    per_user = len(probe.logs) / 200
    n_users = int(np.ceil(args.events / per_user))

    while True:  # resize until the run reaches the target; only the final run counts
        t0 = time.perf_counter()
        wl = generate_logs(cfg, seed=0, n_users=n_users)
        gen_s = time.perf_counter() - t0
        n_gen = len(wl.logs)
        if n_gen >= args.events:
            break
        n_users = int(np.ceil(n_users * 1.02 * args.events / n_gen))
    print(f"generate: {n_gen:,} events ({n_users:,} users) in {gen_s:.2f}s "
          f"= {n_gen / gen_s:,.0f} events/s")

    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "logs.csv"
        wl.logs.drop(columns=["session_id"]).to_csv(csv, index=False)
        mapping = ColumnMapping(
            user="user_id", item="item_id", timestamp="timestamp", slate="slate_id",
            position="position", click="click", watch_time="watch_time",
            watch_ratio="watch_ratio", duration="duration",
        )
        t0 = time.perf_counter()
        ds = ingest("csv", csv, Path(tmp) / "ds", mapping=mapping, session_gap=1800.0)
        ingest_s = time.perf_counter() - t0
        n_ing = ds.metadata["counts"]["events"]
        timing = ds.metadata.get("timing", {})
    print(f"ingest:   {n_ing:,} events (parse+validate+sessionise+split+write) in "
          f"{ingest_s:.2f}s = {n_ing / ingest_s:,.0f} events/s  {timing}")

    result = {
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "generate": {"events": n_gen, "users": n_users, "seconds": gen_s,
                     "events_per_s": n_gen / gen_s, "target_s": 30.0, "ok": gen_s < 30.0},
        "ingest": {"events": n_ing, "seconds": ingest_s, "events_per_s": n_ing / ingest_s,
                   "breakdown_s": timing, "target_s": 30.0, "ok": ingest_s < 30.0},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"saved {args.out}")
    return result


if __name__ == "__main__":
    main()

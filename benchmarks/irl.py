"""QR-IQL throughput: the Ray pipeline against a plain PyTorch loop, measured in one run.

How to run::

    python benchmarks/irl.py                  # CPU, about 6-8 minutes on 2 cores
    python benchmarks/irl.py --use-gpu        # on a GPU machine (learner workers on GPU)
    python benchmarks/irl.py --memory-only --transitions 1000000

What you should see: one line per configuration with seconds per epoch and transitions
per second, the ratio of each Ray configuration's time per epoch to the plain loop's
(target for 1 worker: at most 1.3), the actors' transitions per second for 1 and 2
shards, and the peak memory of building and scoring 1M transitions. The JSON goes to
``benchmarks/results/irl.json``.

Per-epoch times exclude the fixed start-up of Ray Train (worker group, process group;
about 25-30 s on this machine), which is paid once per run, not per epoch; it is
reported separately as ``startup_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "irl.json"


def _events(n_users: int, seed: int = 0):  # noqa: ANN202
    from envs.ground_truth_world import generate_logs, world_config
    from mtrec_ray.irl.config import IRLConfig
    from mtrec_ray.irl.data import build_events, build_feature_spec, split_users

    cfg = IRLConfig()
    wl = generate_logs(world_config("default"), seed=seed, n_users=n_users)
    logs = wl.logs
    split = split_users(logs["user_id"].to_numpy(), seed=seed)
    train_logs = logs[logs["user_id"].isin(split["train"])]
    spec = build_feature_spec(
        train_logs, n_items=wl.config.n_items, n_depth=cfg.n_depth, max_history=cfg.model.max_history,
        max_mood=cfg.max_mood, return_days=cfg.return_days,
    )
    return (
        build_events(train_logs, spec),
        build_events(logs[logs["user_id"].isin(split["valid"])], spec),
        spec,
        cfg,
    )


def _epoch_stats(history: list[dict], n_train: int, skip_first: bool) -> dict:
    rows = history[1:] if skip_first and len(history) > 1 else history
    sec = float(np.median([h["seconds"] for h in rows]))
    return {"seconds_per_epoch": sec, "transitions_per_s": n_train / sec, "epochs": len(history)}


def measure_memory(transitions: int) -> dict:
    """Peak RSS of a fresh process that builds ``transitions`` events and scores them once."""
    code = f"""
import resource, time, torch, numpy as np
torch.set_num_threads(1)
from envs.ground_truth_world import generate_logs, world_config
from mtrec_ray.irl.config import IRLConfig
from mtrec_ray.irl.data import build_events, build_feature_spec, to_tensors
from mtrec_ray.irl.qr_iql import QRIQLModel, compute_targets
cfg = IRLConfig()
wc = world_config("default")
probe = generate_logs(wc, seed=0, n_users=400)
per_user = probe.logs["slate_id"].nunique() / 400
users = int(np.ceil({transitions} / per_user * 1.2))
wl = generate_logs(wc, seed=0, n_users=users)
spec = build_feature_spec(wl.logs, n_items=wc.n_items)
t0 = time.perf_counter()
ev = build_events(wl.logs, spec)
build_s = time.perf_counter() - t0
del wl
tens = to_tensors(ev)
model = QRIQLModel(spec=spec, config=cfg)
t0 = time.perf_counter()
compute_targets(model, tens)
target_s = time.perf_counter() - t0
nbytes = sum(getattr(ev, f).nbytes for f in ev.__dataclass_fields__)
print("RESULT", len(ev), nbytes, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, build_s, target_s)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT"))
    _, n, nbytes, maxrss_kb, build_s, target_s = line.split()
    return {
        "transitions": int(n),
        "event_table_mib": int(nbytes) / 2**20,
        "peak_rss_mib": int(maxrss_kb) / 1024,
        "build_events_s": float(build_s),
        "compute_targets_s": float(target_s),
        "targets_per_s": int(n) / float(target_s),
    }


def main() -> dict:
    """Run every configuration and save the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1500, help="world users (about 14k training events per 1k)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--use-gpu", action="store_true")
    parser.add_argument("--transitions", type=int, default=1_000_000, help="for the memory measurement")
    parser.add_argument("--memory-only", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import torch

    torch.set_num_threads(1)
    result: dict = {"machine": {"cpus": os.cpu_count(), "gpu": bool(torch.cuda.is_available())}}
    if args.memory_only and Path(args.out).exists():
        result = json.loads(Path(args.out).read_text())  # keep the throughput numbers
    if not args.memory_only:
        import ray

        from mtrec_ray.irl.distributed import DistributedConfig, train_distributed
        from mtrec_ray.irl.qr_iql import train_qr_iql
        from mtrec_ray.training import ScalingOptions

        train, valid, spec, cfg = _events(args.users)
        cfg = cfg.replace(epochs=args.epochs, patience=args.epochs + 1,
                          device="cuda" if args.use_gpu else "cpu")
        n = len(train)
        result["train_transitions"] = n
        print(f"training events: {n:,}, validation events: {len(valid):,}")

        t0 = time.perf_counter()
        plain = train_qr_iql(train, valid, spec=spec, config=cfg)
        plain_total = time.perf_counter() - t0
        result["plain"] = {**_epoch_stats(plain.history, n, skip_first=False), "total_s": plain_total}
        print(f"plain loop: {result['plain']['seconds_per_epoch']:.2f} s/epoch "
              f"({result['plain']['transitions_per_s']:,.0f} transitions/s)")

        ray.init(num_cpus=max(2, os.cpu_count() or 2), include_dashboard=False, log_to_driver=False)
        configs = {
            "ray_1worker_1shard": (1, 1),
            "ray_1worker_2shards": (1, 2),
            "ray_2workers_2shards": (2, 2),
        }
        for key, (workers, shards) in configs.items():
            dist = DistributedConfig(
                num_shards=shards, actor_cpus=0.25,
                scaling=ScalingOptions(num_workers=workers, use_gpu=args.use_gpu,
                                       cpus_per_worker=0.5 if workers > 1 else 1.0),
            )
            t0 = time.perf_counter()
            res = train_distributed(
                train, valid, spec=spec, config=cfg.replace(device="cpu"), dist=dist, name=key,
                storage_path=str(Path("/tmp") / f"mtrec_bench_irl_{os.getpid()}"),
            )
            total = time.perf_counter() - t0
            stats = _epoch_stats(res.history, n, skip_first=False)
            epochs_s = sum(h["seconds"] for h in res.history)
            stats.update(
                total_s=total,
                startup_s=total - epochs_s,
                ratio_vs_plain=stats["seconds_per_epoch"] / result["plain"]["seconds_per_epoch"],
                actor_transitions_per_s=float(np.median([h["actor_transitions_per_s"] for h in res.history])),
                target_seconds_per_epoch=float(np.median([h["target_seconds"] for h in res.history])),
            )
            result[key] = stats
            print(f"{key}: {stats['seconds_per_epoch']:.2f} s/epoch, ratio vs plain "
                  f"{stats['ratio_vs_plain']:.2f}, actors {stats['actor_transitions_per_s']:,.0f} "
                  f"transitions/s per shard, start-up {stats['startup_s']:.1f} s")
        ray.shutdown()
        result["target_1worker_within_1.3x"] = result["ray_1worker_1shard"]["ratio_vs_plain"] <= 1.3
    if not args.skip_memory:
        result["memory"] = measure_memory(args.transitions)
        m = result["memory"]
        print(f"memory: {m['transitions']:,} transitions, event table {m['event_table_mib']:.0f} MiB, "
              f"peak RSS {m['peak_rss_mib']:.0f} MiB, targets {m['targets_per_s']:,.0f}/s")
    result["self_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"saved {args.out}")
    return result


if __name__ == "__main__":
    main()

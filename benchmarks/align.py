"""Alignment benchmark: MTRec arms vs their click-trained twins, offline and in the world.

How to run::

    mtrec demo --quick --out runs/demo                     # world, simulator, mental reward
    python benchmarks/align.py --from runs/demo            # reuses them (about 10 minutes)
    python benchmarks/align.py --from runs/demo --gru4rec  # also GRU4Rec (+ its MTRec variants)

Without ``--from`` the world (``--users``/``--items``), the simulator and the mental
reward are built first (as ``mtrec demo --quick``).

What you should see: one line per arm while training; then the offline table
(leave-one-out full ranking on the world logs' test split: HR@10/20, NDCG@10/20, MRR@10
of SASRec, MTRec-SASRec (mean weights) and MTRec-CVaR-SASRec), the A/B table (viewing
time, true satisfaction, session length, CTR, return rate with 95% intervals for random,
popularity, the sequential arms and PPO with reward click / mental / watch time, the
same budget each), the pair table (each MTRec arm's paired-bootstrap lift over its
click-trained twin and over the watch-time arm) and the headline (target: +10% viewing
time, interval above zero, satisfaction not lower), all saved to
``benchmarks/results/align.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "align.json"


def _table(rows: list[dict], cols: list[str]) -> str:
    """A Markdown table."""
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    body = ""
    for r in rows:
        cells = [f"{r.get(c):.4f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols]
        body += "| " + " | ".join(cells) + " |\n"
    return head + body


def main() -> dict:
    """Train every arm, run the A/B, print the tables and save the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", default="", help="an mtrec demo output (world/, sim/, irl/model)")
    parser.add_argument("--work", default="runs/bench_align", help="where arms and intermediate runs go")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--rl-iterations", type=int, default=20)
    parser.add_argument("--ab-users", type=int, default=1000)
    parser.add_argument("--gru4rec", action="store_true", help="also GRU4Rec and its MTRec variants")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    import os

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray
    import torch

    from mtrec_ray.align.pipeline import (
        ABSettings,
        AlignConfig,
        RLArmsConfig,
        ab_rows,
        offline_rows,
        pair_rows,
        run_arms_ab,
        train_rl_arms,
        train_seqrec_arms,
    )
    from mtrec_ray.seqrec.train import SeqRecConfig

    torch.set_num_threads(1)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    ray.init(address="local", include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled"}})
    t0 = time.perf_counter()
    if args.source:
        src = Path(args.source)
        data_dir, sim_dir, model_dir = src / "world", src / "sim", src / "irl" / "model"
    else:
        from envs.user_session import SimulatorFitConfig, fit_simulator
        from mtrec_ray.commands.data import generate_world_dataset
        from mtrec_ray.irl.experiment import IRLExperimentConfig, run_irl

        data_dir = generate_world_dataset(preset="default", out=work / "world", seed=args.seed,
                                          users=args.users, items=args.items, days=7.0)
        sim_dir = fit_simulator(data_dir, work / "sim", SimulatorFitConfig(seed=args.seed))
        run_irl(data_dir, work / "irl", IRLExperimentConfig(baselines=False), name="irl", log=print)
        model_dir = work / "irl" / "model"
    cfg = AlignConfig(
        seqrec=SeqRecConfig(max_epochs=40, patience=5, seed=args.seed, device="cpu"),
        models=["sasrec", "gru4rec"] if args.gru4rec else ["sasrec"],
        variants=["plain", "mean", "cvar"],
        rl=RLArmsConfig(rewards=["click", "mental", "watch_time"], iterations=args.rl_iterations),
        ab=ABSettings(n_users=args.ab_users, horizon_days=7.0, seed=args.seed),
    )
    cfg.validate()
    seq_arms = train_seqrec_arms(data_dir, work / "seqrec", cfg, reward_model=model_dir, log=print)
    rl_arms = train_rl_arms(sim_dir, work / "rl", cfg.rl, reward_model=model_dir, seed=args.seed, log=print)
    arms = [a.recommender() for a in seq_arms.values()] + [a.recommender() for a in rl_arms.values()]
    ab = run_arms_ab(arms, data_dir, cfg.ab, out_dir=work / "ab", log=print)
    ray.shutdown()

    offline = offline_rows(seq_arms)
    results = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "data": str(data_dir),
        "rl_iterations_each": args.rl_iterations,
        "ab_users": ab["users"],
        "offline": offline,
        "ab": ab_rows(ab),
        "pairs": pair_rows(ab["pairs"]),
        "headline": ab["headline"],
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print("\nOffline (world logs, leave-one-out full ranking, test split)\n")
    print(_table(offline, ["arm", "hr@10", "ndcg@10", "hr@20", "ndcg@20", "mrr@10"]))
    print("A/B in the ground-truth world (mean [95% CI])\n")
    print(_table(results["ab"], ["arm", "viewing_time", "satisfaction", "session_length", "ctr", "return_rate"]))
    print("Paired lifts\n")
    print(_table(results["pairs"], ["arm", "vs", "viewing_time_lift", "satisfaction_diff", "ctr_lift"]))
    print(json.dumps(results["headline"], indent=2, default=float))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float))
    print(f"saved {out}")
    return results


if __name__ == "__main__":
    main()

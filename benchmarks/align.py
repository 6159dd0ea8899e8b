"""Alignment benchmark: MTRec arms vs their click-trained twins, offline and in the world.

How to run::

    mtrec demo --quick --out runs/demo                     # world, simulator, mental reward
    python benchmarks/align.py --from runs/demo            # reuses them (about 10 minutes)
    python benchmarks/align.py --from runs/demo --gru4rec  # also GRU4Rec (+ its MTRec variants)
    python benchmarks/align.py --ml100k ../shared/data/ml-100k --skip-world   # MovieLens only

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
``benchmarks/results/align.json``. With ``--ml100k DIR``: the mental reward learned on
MovieLens-100K (``mtrec irl``, no baselines) and the offline table of SASRec vs its
MTRec variants there, including the metrics restricted to test targets rated 4-5 and
rated 1-2 (an aligned model ranks the first higher and not the second); ``--skip-world``
keeps the saved world tables and only adds this one.
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
    parser.add_argument("--ml100k", default="", help="MovieLens-100K folder (u.data): add its offline table")
    parser.add_argument("--skip-world", action="store_true", help="only the MovieLens table (keeps saved world tables)")
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
    out = Path(args.out)
    results: dict = json.loads(out.read_text()) if args.skip_world and out.exists() else {}
    results["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    if args.ml100k:
        results["ml100k"] = _ml100k(Path(args.ml100k), work / "ml100k", seed=args.seed)
        cols = ["arm", "hr@10", "ndcg@10", "rated_4_5/ndcg@10", "rated_1_2/ndcg@10", "train_s"]
        print("\nOffline on MovieLens-100K (leave-one-out full ranking, test split)\n")
        print(_table(results["ml100k"]["offline"], cols))
    if args.skip_world:
        ray.shutdown()
        _save(results, out)
        return results
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
    results.update({
        "data": str(data_dir),
        "rl_iterations_each": args.rl_iterations,
        "ab_users": ab["users"],
        "offline": offline,
        "ab": ab_rows(ab),
        "pairs": pair_rows(ab["pairs"]),
        "headline": ab["headline"],
        "seconds": round(time.perf_counter() - t0, 1),
    })
    print("\nOffline (world logs, leave-one-out full ranking, test split)\n")
    print(_table(offline, ["arm", "hr@10", "ndcg@10", "hr@20", "ndcg@20", "mrr@10"]))
    print("A/B in the ground-truth world (mean [95% CI])\n")
    print(_table(results["ab"], ["arm", "viewing_time", "satisfaction", "session_length", "ctr", "return_rate"]))
    print("Paired lifts\n")
    print(_table(results["pairs"], ["arm", "vs", "viewing_time_lift", "satisfaction_diff", "ctr_lift"]))
    print(json.dumps(results["headline"], indent=2, default=float))
    _save(results, out)
    return results


def _save(results: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float))
    print(f"saved {out}")


def _ml100k(raw: Path, work: Path, *, seed: int) -> dict:
    """Mental reward on MovieLens-100K, then SASRec plain / mean / CVaR offline."""
    from mtrec_ray.align.pipeline import AlignConfig, offline_rows, train_seqrec_arms
    from mtrec_ray.data.dataset import ingest
    from mtrec_ray.irl.experiment import IRLExperimentConfig, run_irl
    from mtrec_ray.seqrec.train import SeqRecConfig

    t0 = time.perf_counter()
    data_dir = work / "data"
    if not (data_dir / "metadata.json").exists():
        ingest("movielens", raw, data_dir, overwrite=True)
    irl = run_irl(data_dir, work / "irl", IRLExperimentConfig(baselines=False), name="irl_ml100k", log=print)
    # lr 0.002 as the seqrec benchmark's SASRec on ML-100K (benchmarks/results/seqrec.json).
    cfg = AlignConfig(seqrec=SeqRecConfig(lr=0.002, max_epochs=40, patience=10, seed=seed, device="cpu"),
                      models=["sasrec"], variants=["plain", "mean", "cvar"])
    arms = train_seqrec_arms(data_dir, work / "seqrec", cfg, reward_model=work / "irl" / "model", log=print)
    keep = ("auc_rating", "valid_nll", "best_epoch")
    return {"irl": {k: irl[k] for k in keep if k in irl}, "offline": offline_rows(arms),
            "seconds": round(time.perf_counter() - t0, 1)}


if __name__ == "__main__":
    main()

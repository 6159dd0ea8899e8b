"""Benchmark: SASRec and GRU4Rec on MovieLens-100K (quality, training throughput, eval time).

How to run::

    . .venv/bin/activate
    python benchmarks/seqrec.py                       # 3 seeds, ~19 min on 2 busy CPU cores
    python benchmarks/seqrec.py --seeds 0 --no-ray    # one seed, no Ray Train (~4 min)
    python benchmarks/seqrec.py --data /path/to/ml-100k --out results.json

What you should see: a table of leave-one-out full-ranking test metrics (HR@10/20,
NDCG@10/20, MRR@10, mean ± std over seeds) for SASRec and GRU4Rec, the same restricted
to test targets rated 4-5 and 1-2, and with already-seen items masked (secondary
protocol); then training throughput in sequences (training windows of <= 50 items) per
second per epoch for the plain loop and Ray Train with 1 and 2 workers, measured in this
run with the ratios to the plain loop; then the time to rank all items for all 943 test
users. Everything is also written to ``benchmarks/results/seqrec.json``.

Protocol: MovieLens-100K loaded with ``mtrec_ray.data.load_movielens`` (every rating is a
consumption, ratings only in evaluation), stable time order, leave-one-out, full
ranking over all 1,682 items without masking history (``mtrec_ray.eval.ranking``),
early stopping on validation NDCG@10. Each training process (plain loop or Ray worker)
uses one torch thread so the comparison is per core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from mtrec_ray.config import to_dict  # noqa: E402
from mtrec_ray.data import load_movielens  # noqa: E402
from mtrec_ray.eval.ranking import evaluate_ranking  # noqa: E402
from mtrec_ray.seqrec import SeqRecConfig, build_sequences, train_seqrec  # noqa: E402
from mtrec_ray.training import ScalingOptions  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "ml-100k"
MODELS = ("sasrec", "gru4rec")
REPORTED = ("hr@10", "hr@20", "ndcg@10", "ndcg@20", "mrr@10")

# Published reference (state its protocol next to it; see the module README section).
REFERENCE = {
    "source": "demoleiwang/EC4SRec README, 'Experiments on ML-100K' (CIKM 2022 code, RecBole-based)",
    "protocol": "RecBole TO_LS full ranking, MAX_ITEM_LIST_LENGTH 50, 5-core item/user filter, "
    "valid metric NDCG@10; Recall@K equals HR@K with one target",
    "sasrec": {"hr@10": 0.1304, "hr@20": 0.2269, "ndcg@10": 0.0617, "ndcg@20": 0.0860},
}


def model_config(model: str, seed: int, *, max_epochs: int, patience: int) -> SeqRecConfig:
    """The benchmarked configuration of each model (library defaults, SASRec at lr 2e-3)."""
    cfg = SeqRecConfig(model=model, seed=seed, max_epochs=max_epochs, patience=patience, device="cpu")
    if model == "sasrec":
        cfg.lr = 2e-3
    cfg.validate()
    return cfg


def mean_std(values: list[float]) -> dict[str, float]:
    """Mean and sample standard deviation (0 for one value)."""
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
    }


def quality(data: Any, seeds: list[int], *, max_epochs: int, patience: int) -> dict[str, Any]:
    """Train every model with every seed (plain loop); test metrics and their spread."""
    out: dict[str, Any] = {}
    for model in MODELS:
        runs = []
        for seed in seeds:
            t0 = time.perf_counter()
            trained = train_seqrec(model_config(model, seed, max_epochs=max_epochs, patience=patience), data)
            wall = time.perf_counter() - t0
            test = evaluate_ranking(trained, data, "test")
            masked = evaluate_ranking(trained, data, "test", mask_history=True)
            runs.append(
                {
                    "seed": seed,
                    "best_epoch": trained.best_epoch,
                    "epochs": len(trained.history),
                    "valid_ndcg@10": trained.best_valid_ndcg10,
                    "train_wall_seconds": wall,
                    "test": test,
                    "test_masked_history": masked,
                    "plain_seqs_per_s": [h["train_seqs_per_s"] for h in trained.history],
                }
            )
            print(
                f"  {model} seed {seed}: best epoch {trained.best_epoch}/{len(trained.history)} "
                f"valid ndcg@10 {trained.best_valid_ndcg10:.4f} test hr@10 {test['hr@10']:.4f} "
                f"ndcg@10 {test['ndcg@10']:.4f} ({wall:.0f}s)",
                flush=True,
            )
        summary: dict[str, Any] = {}
        for prefix, key in (("", "test"), ("rated_4_5/", "test"), ("rated_1_2/", "test"), ("masked/", "test_masked_history")):
            for metric in REPORTED:
                summary[prefix + metric] = mean_std([r[key][prefix.replace("masked/", "") + metric] for r in runs])
        summary["eval_seconds_all_users"] = mean_std([r["test"]["eval_seconds"] for r in runs])
        out[model] = {"summary": summary, "runs": runs}
    return out


def throughput(data: Any, *, epochs: int, use_ray: bool, storage: str) -> dict[str, Any]:
    """Sequences/s per epoch: plain loop vs Ray Train on 1 and 2 workers, same run."""
    out: dict[str, Any] = {}
    n_windows = len(data.train_windows().inputs)
    for model in MODELS:
        cfg = model_config(model, 0, max_epochs=epochs, patience=epochs)
        res: dict[str, Any] = {"windows_per_epoch": n_windows}
        t0 = time.perf_counter()
        plain = train_seqrec(cfg, data)
        res["plain"] = _rates(plain.history, time.perf_counter() - t0)
        if use_ray:
            for workers in (1, 2):
                t0 = time.perf_counter()
                trained = train_seqrec(
                    cfg,
                    data,
                    use_ray=True,
                    scaling=ScalingOptions(num_workers=workers, max_failures=0),
                    name=f"bench_{model}_{workers}w",
                    storage_path=storage,
                )
                res[f"ray_{workers}w"] = _rates(trained.history, time.perf_counter() - t0)
                res[f"ray_{workers}w"]["ratio_vs_plain"] = (
                    res[f"ray_{workers}w"]["seqs_per_s"] / res["plain"]["seqs_per_s"]
                )
        out[model] = res
        line = ", ".join(
            f"{k} {v['seqs_per_s']:.0f}/s" + (f" (x{v['ratio_vs_plain']:.2f})" if "ratio_vs_plain" in v else "")
            for k, v in res.items()
            if isinstance(v, dict)
        )
        print(f"  {model}: {line}", flush=True)
    return out


def _rates(history: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    """Mean sequences/s over epochs after the first (warm-up), and the total wall time."""
    rates = [h["train_seqs_per_s"] for h in history]
    steady = rates[1:] or rates
    return {"seqs_per_s": statistics.fmean(steady), "per_epoch": rates, "wall_seconds_incl_startup": wall}


def print_table(q: dict[str, Any]) -> None:
    """Mean ± std table of the test metrics."""
    cols = ["", "rated_4_5/", "rated_1_2/", "masked/"]
    for col in cols:
        title = {"": "all test targets", "rated_4_5/": "targets rated 4-5", "rated_1_2/": "targets rated 1-2",
                 "masked/": "all targets, seen items masked"}[col]
        print(f"\n{title}:")
        print("  model     " + "".join(f"{m:>18}" for m in REPORTED))
        for model in MODELS:
            s = q[model]["summary"]
            print(f"  {model:<9} " + "".join(f"{s[col + m]['mean']:>11.4f}±{s[col + m]['std']:.4f}" for m in REPORTED))
    ref = REFERENCE["sasrec"]
    print(f"\nreference SASRec ({REFERENCE['source']}): " + ", ".join(f"{k} {v}" for k, v in ref.items()))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="MovieLens-100K folder (u.data)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--max-epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--throughput-epochs", type=int, default=3)
    p.add_argument("--no-ray", action="store_true", help="skip the Ray Train throughput runs")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "seqrec.json"))
    args = p.parse_args(argv)
    if not (Path(args.data) / "u.data").exists():
        print(f"MovieLens-100K not found at {args.data} (its licence forbids bundling it)", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    log = load_movielens(args.data)
    data = build_sequences(log, max_len=50)
    print(f"ML-100K: {len(data.sequences)} users, {data.n_items} items, {data.n_train_targets()} training targets")

    print("\nquality (plain loop):", flush=True)
    q = quality(data, args.seeds, max_epochs=args.max_epochs, patience=args.patience)
    print_table(q)

    print("\ntraining throughput (sequences/s per epoch):", flush=True)
    if not args.no_ray:
        import ray

        # Local Ray with worker logs kept out of the table (mtrec_ray.ray_utils.init_ray
        # always forwards them); the throughput numbers come back in the run history.
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}},
        )
    with tempfile.TemporaryDirectory(prefix="seqrec_bench_") as storage:
        tp = throughput(data, epochs=args.throughput_epochs, use_ray=not args.no_ray, storage=storage)
    for model in MODELS:
        s = q[model]["summary"]["eval_seconds_all_users"]
        print(f"  full-ranking evaluation, {model}, all {len(data.split('test').targets)} users: "
              f"{s['mean'] * 1e3:.0f} ms")

    result = {
        "benchmark": "seqrec",
        "dataset": "ml-100k",
        "protocol": "leave-one-out (stable time order), full ranking over all items, history not masked "
        "unless stated, early stopping on valid NDCG@10",
        "config": {m: to_dict(model_config(m, 0, max_epochs=args.max_epochs, patience=args.patience)) for m in MODELS},
        "seeds": args.seeds,
        "quality": q,
        "throughput": tp,
        "reference": REFERENCE,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()},
        "total_seconds": time.perf_counter() - t_start,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=lambda o: getattr(o, "__dict__", str(o))))
    print(f"\nwrote {out} ({result['total_seconds']:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

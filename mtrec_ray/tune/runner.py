"""``mtrec tune``: Ray Tune over the QR-IQL learner's architecture and hyper-parameters.

How to run::

    mtrec tune --config tune_configs/quick.yaml --out runs/tune_quick
    mtrec tune --config tune_configs/quick.yaml --out runs/tune_quick --resume   # after Ctrl-C
    mtrec tune --config tune_configs/reward_arch.yaml --address auto --out s3://bucket/tune

What you should see: Tune's trial table while it runs (ASHA stops the weak trials after
``grace_period`` epochs), then a summary table of the trials, and under ``--out``:
``results.csv`` (one row per trial), ``history.csv`` (every epoch of every trial),
``objective.png`` (the objective per trial over epochs and over wall time),
``best_config.yaml`` (accepted unchanged by ``mtrec irl --config``), ``summary.json``
(counts, the best trial, trials per hour, and on world data the Spearman rank
correlation between the objective and the reward-recovery Spearman across trials) and
``tune_config.yaml`` (the resolved experiment).

The loop, top to bottom:

1. The data: a prepared dataset, or a ground-truth world generated once under
   ``OUT/data/`` (reused on --resume).
2. A Tune **function trainable** (``run_trial``) per sampled configuration. Under Ray
   Train V2, ``Tuner(TorchTrainer(...))`` no longer composes; the trial instead builds
   and fits the learner's ``TorchTrainer`` itself (``train_main(..., in_tune=True)``),
   whose ``TuneReportCallback`` forwards every epoch's report (``valid_nll``...) to the
   trial, so ASHA sees one result per epoch. The trial reserves a token 0.01 CPU
   (``tune.with_resources``); its learner workers and quantile-estimation actors
   reserve ``resources.cpu`` / ``resources.gpu`` themselves, and
   ``max_concurrent_trials`` keeps the number of trials to what the cluster holds.
3. After training, the trial evaluates the restored best model (``evaluate_main``) and
   reports once more: the final ``valid_nll`` and, on world data, the recovery
   ``spearman`` (never used for selection). ASHA runs with ``stop_last_trials=False``,
   so a trial that survives every rung trains to ``max_t`` and reaches this report;
   a trial without it was stopped early.
4. When ASHA stops a trial, the learner's Ray Train controller dies with the trial and
   leaves its workers' placement group behind; a driver-side sweep
   (``mtrec_ray.tune.cleanup``) releases such groups every few seconds, so the CPUs
   return to the next trials.
5. The experiment lives in ``OUT/ray_results/<name>``; each trial's Ray Train run in
   ``OUT/ray_results/<name>_train/irl_<trial_id>``. ``--resume`` restores the
   experiment (``Tuner.restore``): finished trials stay, the rest of the samples are
   drawn, and an interrupted trial's learner resumes from its latest epoch checkpoint.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtrec_ray.config import from_dict, save_config, to_dict
from mtrec_ray.errors import ConfigError
from mtrec_ray.progress import Log
from mtrec_ray.tune.cleanup import release_orphaned_placement_groups, sweep_callback
from mtrec_ray.tune.config import TRIAL_ACTOR_CPU, TuneExperimentConfig, deep_merge, trial_base
from mtrec_ray.tune.spaces import flatten

#: Tune's bookkeeping keys and the learner's diagnostics, left out of ``history.csv``.
_HISTORY_COLUMNS = (
    "training_iteration", "epoch", "valid_nll", "best_valid_nll", "nll", "td", "loss",
    "seconds", "transitions_per_s", "timestamp", "time_total_s",
)
EXTRAS = {"optuna": "optuna", "hyperopt": "hyperopt"}


@dataclass(frozen=True)
class TrialSetup:
    """What every trial needs besides its sampled configuration."""

    data: str
    """Prepared dataset, local path or URI."""
    train_storage: str
    """``storage_path`` of the trials' Ray Train runs."""


# --------------------------------------------------------------------------- the trial


def run_trial(config: dict[str, Any], setup: TrialSetup) -> None:
    """One Tune trial: prepare the data, fit the distributed learner, evaluate, report."""
    import torch
    from ray import tune

    from mtrec_ray.irl.experiment import (
        IRLExperimentConfig,
        evaluate_main,
        prepare_inputs,
        train_main,
    )
    from mtrec_ray.storage import local_input

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    cfg = from_dict(IRLExperimentConfig, config)
    inputs = prepare_inputs(local_input(setup.data), cfg)
    t1 = time.perf_counter()
    trial_id = tune.get_context().get_trial_id()
    result = train_main(
        inputs, cfg, name=f"irl_{trial_id}", storage_path=setup.train_storage, in_tune=True
    )
    t2 = time.perf_counter()
    metrics = evaluate_main(inputs, result, cfg)
    report: dict[str, Any] = {
        "valid_nll": metrics["valid_nll"],
        "best_valid_nll": metrics["valid_nll"],
        "test_nll": metrics["test_nll"],
        "epochs": metrics["epochs"],
        "best_epoch": metrics["best_epoch"],
        "evaluated": 1,
        "prepare_seconds": t1 - t0,
        "train_seconds": t2 - t1,
        "evaluate_seconds": time.perf_counter() - t2,
        "trial_seconds": time.perf_counter() - t0,
    }
    if "spearman" in metrics:
        lo, hi = metrics["spearman_ci95"]
        report.update(
            spearman=metrics["spearman"], spearman_lo=lo, spearman_hi=hi,
            coverage_error=metrics["coverage_error"],
        )
    if "auc_rating" in metrics:
        report["auc_rating"] = metrics["auc_rating"]
    tune.report(report)


# --------------------------------------------------------------------------- building blocks


def resolve_data(cfg: TuneExperimentConfig, out: str, *, log: Log | None = None) -> str:
    """The dataset every trial reads: ``data.dir`` or the world generated under OUT/data."""
    from mtrec_ray.storage import is_uri, local_input, output_dir

    if cfg.data.dir:
        return cfg.data.dir if is_uri(cfg.data.dir) else str(local_input(cfg.data.dir).resolve())
    from mtrec_ray.commands.data import generate_world_dataset

    w = cfg.data.world
    ref = f"{str(out).rstrip('/')}/data/{w.dirname()}"
    if not is_uri(ref):
        ref = str(Path(ref).resolve())
        if (Path(ref) / "metadata.json").exists():
            return ref
    if log:
        log(f"generating world '{w.preset}' ({w.users} users, {w.items} items, {w.days:g} days) -> {ref}")
    with output_dir(ref) as d:
        generate_world_dataset(
            preset=w.preset, out=Path(d), seed=w.seed, users=w.users, items=w.items, days=w.days,
            quiet=True,
        )
    return ref


def build_scheduler(cfg: TuneExperimentConfig) -> Any:
    """ASHA on the learner's epochs, or FIFO.

    ASHA gets ``max_t - 0.5`` so that its rungs (``grace_period * reduction_factor**k``)
    lie strictly below the epoch budget: a trial that reaches its last epoch is never
    stopped there and always reports its evaluation; ``stop_last_trials=False`` leaves
    the end of a trial to the learner (``irl.epochs = max_t`` or its patience).
    """
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    s = cfg.scheduler
    if s.type == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=max(s.max_t - 0.5, s.grace_period),
        grace_period=s.grace_period,
        reduction_factor=s.reduction_factor,
        brackets=s.brackets,
        stop_last_trials=False,
    )


def build_search(cfg: TuneExperimentConfig, seed: int, max_concurrent: int) -> Any:
    """The search algorithm, limited to ``max_concurrent`` running trials.

    Optuna / HyperOpt need their pip extra. (Tune's ``max_concurrent_trials`` only
    wraps ``Searcher`` objects, not the random ``BasicVariantGenerator``, so the limit
    is set here for both.)
    """
    import importlib.util

    algo = cfg.search.algorithm
    if algo == "random":
        from ray.tune.search import BasicVariantGenerator

        return BasicVariantGenerator(random_state=seed, max_concurrent=max_concurrent)
    if importlib.util.find_spec(EXTRAS[algo]) is None:
        raise ConfigError(
            f"search.algorithm {algo} needs the '{EXTRAS[algo]}' package: "
            f"pip install 'mtrec-ray[{algo}]' (or use search.algorithm: random)"
        )
    from ray.tune.search import ConcurrencyLimiter

    if algo == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        return ConcurrencyLimiter(OptunaSearch(seed=seed), max_concurrent=max_concurrent)
    from ray.tune.search.hyperopt import HyperOptSearch

    return ConcurrencyLimiter(HyperOptSearch(random_state_seed=seed), max_concurrent=max_concurrent)


def param_space(cfg: TuneExperimentConfig) -> dict[str, Any]:
    """Every trial's full ``IRLExperimentConfig`` dict, with Tune domains at the space keys."""
    from mtrec_ray.tune.spaces import to_tune

    return deep_merge(trial_base(cfg), to_tune(cfg.space))


def concurrency(cfg: TuneExperimentConfig) -> int:
    """``max_concurrent_trials``, or as many trials as the cluster's CPUs / GPUs hold."""
    if cfg.max_concurrent_trials:
        return cfg.max_concurrent_trials
    from mtrec_ray.ray_utils import cluster_resources

    total = cluster_resources()
    n = int(total.get("CPU", 1) // cfg.resources.cpu + 1e-9)
    if cfg.resources.gpu > 0:
        n = min(n, int(total.get("GPU", 0) // cfg.resources.gpu + 1e-9))
    return max(n, 1)


def trainable(setup: TrialSetup) -> Any:
    """``run_trial`` bound to the setup, reserving a token CPU (the learner reserves its own)."""
    from ray import tune

    return tune.with_resources(tune.with_parameters(run_trial, setup=setup), {"cpu": TRIAL_ACTOR_CPU})


def progress_callback(keys: list[str], metric: str, log: Log) -> Any:
    """A Tune callback writing one short line per trial start, epoch and end."""
    from ray.tune import Callback

    class ProgressLog(Callback):
        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            flat = flatten(trial.config or {})
            log(f"trial {trial.trial_id} started: " + ", ".join(f"{_short(k)}={_fmt(flat.get(k))}" for k in keys))

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            if result.get("evaluated"):
                extra = f", recovery spearman {result['spearman']:.3f}" if "spearman" in result else ""
                log(f"trial {trial.trial_id} evaluated: valid_nll {result['valid_nll']:.4f}{extra}")
            elif "epoch" in result:
                log(f"trial {trial.trial_id} epoch {int(result['epoch']) + 1}: {metric} {result[metric]:.4f}")

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            if not (trial.last_result or {}).get("evaluated"):
                log(f"trial {trial.trial_id} stopped early by the scheduler")

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            log(f"[red]trial {trial.trial_id} failed[/]: see {trial.local_path}")

    return ProgressLog()


# --------------------------------------------------------------------------- the experiment


def run_tune(
    cfg: TuneExperimentConfig,
    out: str | Path,
    *,
    root: str | None = None,
    resume: bool = False,
    seed: int = 0,
    callbacks: list[Any] | None = None,
    verbose: int = 0,
    log: Log | None = None,
) -> dict[str, Any]:
    """Run (or resume) the experiment and write the outputs into ``out``.

    Args:
        cfg: the loaded experiment. out: a local directory for the outputs.
        root: ``--out`` as given (a path or a URI on clusters), home of ``ray_results/``
            (the Tune experiment and the trials' Train runs) and ``data/``; default ``out``.
        resume: continue the experiment stored at ``root/ray_results/cfg.name``.
        seed: search seed when ``cfg.search.seed`` is empty (``--seed``).
        callbacks: extra Tune callbacks (loggers...) of a new experiment; a resumed one
            keeps those it started with (Tune restores them). verbose: Tune's verbosity.
        log: status lines (``console_print`` on the CLI).

    Returns the summary (also written as ``summary.json``). Ray must be initialised.
    """
    from ray import tune

    from mtrec_ray.storage import storage_path

    say = log or (lambda _msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    root = root or str(out)
    storage = storage_path(root)
    exp_path = f"{storage.rstrip('/')}/{cfg.name}"
    restorable = tune.Tuner.can_restore(exp_path)
    saved = out / "tune_config.yaml"
    if restorable and not resume:
        raise ConfigError(
            f"an experiment already exists at {exp_path}: pass --resume to continue it, "
            "or choose another --out"
        )
    if resume and restorable and saved.exists():
        cfg = _resumed_config(cfg, saved, say)
    data = resolve_data(cfg, root, log=say)
    save_config(cfg, saved)
    setup = TrialSetup(data=data, train_storage=f"{storage.rstrip('/')}/{cfg.name}_train")
    before = 0
    if resume and restorable:
        before = sum(t.status == "TERMINATED" for t in tune.ExperimentAnalysis(exp_path).trials)
        say(f"resuming {exp_path} ({before} trials already finished)")
        tuner = tune.Tuner.restore(exp_path, trainable=trainable(setup), resume_errored=True)
    else:
        if resume:
            say(f"nothing to resume at {exp_path}; starting the experiment")
        seed_ = cfg.search.seed if cfg.search.seed is not None else seed
        tuner = tune.Tuner(
            trainable(setup),
            param_space=param_space(cfg),
            tune_config=tune.TuneConfig(
                metric=cfg.metric,
                mode=cfg.mode,
                scheduler=build_scheduler(cfg),
                search_alg=build_search(cfg, seed_, concurrency(cfg)),
                num_samples=cfg.num_samples,
                time_budget_s=cfg.time_budget_s or None,
            ),
            run_config=tune.RunConfig(
                name=cfg.name,
                storage_path=storage,
                callbacks=[
                    sweep_callback(),
                    *(callbacks or []),
                    *([progress_callback(list(cfg.space), cfg.metric, log)] if log else []),
                ],
                verbose=verbose,
            ),
        )
    t0 = time.perf_counter()
    tuner.fit()
    fit_seconds = time.perf_counter() - t0
    release_orphaned_placement_groups()
    return write_outputs(
        cfg, exp_path, out, fit_seconds=fit_seconds, data=data, finished_before=before, log=say
    )


def _resumed_config(cfg: TuneExperimentConfig, saved: Path, say: Log) -> TuneExperimentConfig:
    """On --resume the saved experiment wins; say which sections differ from --config."""
    from mtrec_ray.config import load_config

    old = load_config(TuneExperimentConfig, saved)
    new_d, old_d = to_dict(cfg), to_dict(old)
    diff = sorted(k for k in set(new_d) | set(old_d) if new_d.get(k) != old_d.get(k))
    if diff:
        say(f"--resume continues the saved experiment; ignoring changed keys: {', '.join(diff)}")
    return old


# --------------------------------------------------------------------------- outputs


def trial_table(cfg: TuneExperimentConfig, exp_path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per trial (status, sampled values, metrics) and every epoch of every trial."""
    from ray import tune

    analysis = tune.ExperimentAnalysis(exp_path)
    rows, hist = [], []
    for t in analysis.trials:
        last = t.last_result or {}
        df = analysis.trial_dataframes.get(t.trial_id, pd.DataFrame())
        epochs = df[df["epoch"].notna()] if "epoch" in df.columns else df.iloc[0:0]
        # A resumed trial's learner may report an epoch again: keep the latest report of each.
        epochs = epochs.drop_duplicates("epoch", keep="last").sort_values("epoch")
        evaluated = bool(last.get("evaluated"))
        if t.status == "ERROR":
            status = "error"
        elif t.status == "TERMINATED":
            status = "completed" if evaluated else "stopped_early"
        else:
            status = "unfinished"
        flat = flatten(t.config or {})
        row: dict[str, Any] = {"trial_id": t.trial_id, "status": status, "epochs_run": len(epochs)}
        row.update({k: flat.get(k) for k in cfg.space})
        for k in ("valid_nll", "test_nll", "spearman", "spearman_lo", "spearman_hi", "coverage_error", "auc_rating"):
            if k in last:
                row[k] = last[k]
        for k in ("prepare_seconds", "train_seconds", "evaluate_seconds"):
            if k in last:
                row[k] = last[k]
        row["trial_seconds"] = float(last.get("time_total_s", float("nan")))
        rows.append(row)
        if len(epochs):
            keep = [c for c in _HISTORY_COLUMNS if c in epochs.columns]
            h = epochs[keep].copy()
            h.insert(0, "trial_id", t.trial_id)
            hist.append(h)
    table = pd.DataFrame(rows)
    if "valid_nll" in table.columns:
        table = table.sort_values("valid_nll", na_position="last").reset_index(drop=True)
    history = pd.concat(hist, ignore_index=True) if hist else pd.DataFrame(columns=["trial_id", *_HISTORY_COLUMNS])
    return table, history


def judge_stopped(
    table: pd.DataFrame, exp_path: str, train_storage: str, data: str, *, log: Log | None = None
) -> pd.DataFrame:
    """Evaluate each early-stopped trial's best checkpoint in the driver (``evaluate_main``).

    ASHA ends a trial before its own evaluation; this scores the best weights it had
    when Tune last heard from it (the checkpoint of that epoch or the nearest earlier
    one), so every trial gets a recovery Spearman. Local storage only.
    """
    import torch
    from ray import tune

    from mtrec_ray.irl.distributed import DistributedResult
    from mtrec_ray.irl.experiment import IRLExperimentConfig, evaluate_main, prepare_inputs
    from mtrec_ray.irl.qr_iql import QRIQLModel
    from mtrec_ray.storage import is_uri, local_input
    from mtrec_ray.training import STATE_FILE

    todo = table.index[table["status"] == "stopped_early"]
    if not len(todo) or is_uri(train_storage):
        return table
    configs = {t.trial_id: t.config for t in tune.ExperimentAnalysis(exp_path).trials}
    cache: dict[str, Any] = {}
    table = table.copy()
    table["judged_by"] = np.where(table["status"] == "completed", "trial", "")
    for i in todo:
        tid = table.at[i, "trial_id"]
        states = []
        for f in sorted(Path(train_storage, f"irl_{tid}").glob(f"checkpoint_*/{STATE_FILE}")):
            states.append(torch.load(f, map_location="cpu", weights_only=True))
        if not states:
            continue
        seen = int(table.at[i, "epochs_run"]) - 1
        states.sort(key=lambda st: int(st["epoch"]))
        before = [st for st in states if int(st["epoch"]) <= seen]
        state = before[-1] if before else states[0]
        cfg = from_dict(IRLExperimentConfig, configs[tid])
        key = json.dumps({k: v for k, v in to_dict(cfg).items() if k != "irl"} | {
            "irl": {k: getattr(cfg.irl, k) for k in ("n_depth", "max_mood", "return_days")},
            "max_history": cfg.irl.model.max_history,
        }, sort_keys=True, default=str)
        if key not in cache:
            cache[key] = prepare_inputs(local_input(data), cfg)
        inputs = cache[key]
        model = QRIQLModel(spec=inputs.spec, config=cfg.irl)
        model.load_state_dict(state["best_model"])
        model.eval()
        history = list(state["history"])
        res = DistributedResult(model=model, history=history, best_epoch=int(state["best_epoch"]), path="")
        m = evaluate_main(inputs, res, cfg)
        table.at[i, "valid_nll"] = m["valid_nll"]
        table.at[i, "test_nll"] = m["test_nll"]
        for k in ("spearman", "coverage_error", "auc_rating"):
            if k in m:
                table.at[i, k] = m[k]
        if "spearman_ci95" in m:
            table.at[i, "spearman_lo"], table.at[i, "spearman_hi"] = m["spearman_ci95"]
        table.at[i, "judged_by"] = f"driver@epoch{int(state['epoch']) + 1}"
        if log:
            log(f"judged stopped trial {tid} at epoch {int(state['epoch']) + 1}: valid_nll {m['valid_nll']:.4f}"
                + (f", recovery spearman {m['spearman']:.3f}" if "spearman" in m else ""))
    return table.sort_values("valid_nll", na_position="last").reset_index(drop=True)


def rank_correlation(table: pd.DataFrame) -> dict[str, Any]:
    """Spearman rank correlation of valid_nll and recovery Spearman across trials.

    ``all``: every trial with both numbers (early-stopped ones judged by the driver);
    ``completed``: the trials that trained to the end. Negative is good: trials with a
    lower held-out NLL recover the true reward better. Also: where the trial that the
    objective picks ranks by recovery (1 = it is also the best recovery).
    """
    from scipy.stats import spearmanr

    out: dict[str, Any] = {}
    if "spearman" not in table.columns:
        return {"all": {"n": 0, "rho": None}, "completed": {"n": 0, "rho": None}}
    for name, mask in (("all", table["status"] != "error"), ("completed", table["status"] == "completed")):
        ok = table[mask & table["valid_nll"].notna() & table["spearman"].notna()]
        part: dict[str, Any] = {"n": len(ok), "rho": None, "p_value": None}
        if len(ok) >= 3 and ok["valid_nll"].nunique() > 1 and ok["spearman"].nunique() > 1:
            res = spearmanr(ok["valid_nll"], ok["spearman"])
            part.update(rho=float(res.statistic), p_value=float(res.pvalue))
        out[name] = part
    done = table[(table["status"] == "completed") & table["spearman"].notna()]
    if len(done):
        best = done.loc[done["valid_nll"].idxmin()]
        pool = table[table["spearman"].notna()]
        out["picked_trial_recovery_rank"] = int((pool["spearman"] > best["spearman"]).sum()) + 1
        out["picked_trial_recovery_spearman"] = float(best["spearman"])
        out["best_recovery_spearman"] = float(pool["spearman"].max())
    return out


def plot_objective(history: pd.DataFrame, table: pd.DataFrame, path: Path, metric: str) -> None:
    """valid_nll per trial over epochs (left) and over wall time (right); x = stopped early."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    status = dict(zip(table["trial_id"], table["status"], strict=True)) if len(table) else {}
    best = table["trial_id"].iloc[0] if len(table) and "valid_nll" in table.columns else None
    t_min = history["timestamp"].min() if "timestamp" in history.columns and len(history) else 0
    from matplotlib.ticker import MaxNLocator

    n = history["trial_id"].nunique()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    for i, (tid, h) in enumerate(history.groupby("trial_id", sort=False)):
        h = h.sort_values("epoch")
        x_epoch = h["epoch"].to_numpy() + 1
        x_time = (h["timestamp"].to_numpy() - t_min) / 60.0 if "timestamp" in h.columns else x_epoch
        style = {"color": cmap(i % cmap.N), "lw": 2.5 if tid == best else 1.0, "alpha": 0.9}
        marker = "x" if status.get(tid) == "stopped_early" else "o"
        for ax, x in ((axes[0], x_epoch), (axes[1], x_time)):
            ax.plot(x, h[metric], **style, label=tid if ax is axes[0] else None)
            ax.plot(x[-1:], h[metric].to_numpy()[-1:], marker, color=style["color"])
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_xlabel("epoch")
    axes[1].set_xlabel("wall time since the first report (minutes)")
    for ax in axes:
        ax.set_ylabel(metric)
    axes[0].set_title("objective per trial (x: stopped early by ASHA)")
    axes[1].set_title("objective over time (bold: best trial)")
    if n <= 12:
        axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(
    cfg: TuneExperimentConfig,
    exp_path: str,
    out: Path,
    *,
    fit_seconds: float,
    data: str = "",
    finished_before: int = 0,
    log: Log | None = None,
) -> dict[str, Any]:
    """results.csv, history.csv, objective.png, best_config.yaml, summary.json, printed table."""
    from mtrec_ray.irl.experiment import IRLExperimentConfig

    say = log or (lambda _msg: None)
    table, history = trial_table(cfg, exp_path)
    if cfg.judge_stopped and data:
        table = judge_stopped(table, exp_path, f"{exp_path}_train", data, log=say)
    table.to_csv(out / "results.csv", index=False)
    history.to_csv(out / "history.csv", index=False)
    counts = table["status"].value_counts().to_dict() if len(table) else {}
    finished = counts.get("completed", 0) + counts.get("stopped_early", 0)
    expected = cfg.num_samples * _grid_points(cfg)
    summary: dict[str, Any] = {
        "experiment": cfg.name,
        "experiment_path": exp_path,
        "data": data,
        "trials": len(table),
        "expected_trials": expected,
        "completed": counts.get("completed", 0),
        "stopped_early": counts.get("stopped_early", 0),
        "errors": counts.get("error", 0),
        "unfinished": counts.get("unfinished", 0),
        "complete": finished + counts.get("error", 0) == expected and not counts.get("unfinished", 0),
        "fit_seconds": fit_seconds,
        "trials_finished_this_run": finished - finished_before,
        "trials_per_hour": (finished - finished_before) / fit_seconds * 3600 if fit_seconds > 0 else None,
        "metric": cfg.metric,
        "mode": cfg.mode,
    }
    if len(history):
        plot_objective(history, table, out / "objective.png", cfg.metric)
        summary["plot"] = "objective.png"
    done = table[table["status"] == "completed"] if len(table) else table
    pool = done if len(done) else table[table["status"] == "stopped_early"] if len(table) else table
    if len(pool) and "valid_nll" in pool.columns and pool["valid_nll"].notna().any():
        best_row = pool.loc[pool["valid_nll"].idxmin() if cfg.mode == "min" else pool["valid_nll"].idxmax()]
        from ray import tune

        trial = next(t for t in tune.ExperimentAnalysis(exp_path).trials if t.trial_id == best_row["trial_id"])
        best_cfg = from_dict(IRLExperimentConfig, trial.config)
        save_config(best_cfg, out / "best_config.yaml")
        summary["best"] = {
            "trial_id": best_row["trial_id"],
            "status": best_row["status"],
            "config": {k: _plain(best_row[k]) for k in cfg.space},
            **{k: _plain(best_row[k]) for k in ("valid_nll", "test_nll", "spearman") if k in best_row},
        }
        summary["best_config"] = "best_config.yaml"
    summary["objective_vs_recovery"] = rank_correlation(table)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_plain))
    print_summary(table, summary, cfg, say)
    return summary


def _grid_points(cfg: TuneExperimentConfig) -> int:
    n = 1
    for spec in cfg.space.values():
        if isinstance(spec, dict) and "grid" in spec:
            n *= len(spec["grid"])
    return n


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def print_summary(table: pd.DataFrame, summary: dict[str, Any], cfg: TuneExperimentConfig, say: Log) -> None:
    """A rich table of the trials (best first) and the headline numbers."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"mtrec tune: {cfg.name}", show_lines=False)
    cols = ["trial_id", "status", "epochs_run", *cfg.space, "valid_nll", "spearman", "judged_by"]
    cols = [c for c in cols if c in table.columns]
    for c in cols:
        t.add_column(_short(c), justify="right" if c not in ("trial_id", "status") else "left")
    for _, row in table.iterrows():
        t.add_row(*[_fmt(row[c]) for c in cols])
    import sys

    Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160).print(t)
    rc = summary["objective_vs_recovery"]
    lines = [
        f"trials: {summary['completed']} completed, {summary['stopped_early']} stopped early by ASHA, "
        f"{summary['errors']} errors, {summary['unfinished']} unfinished (of {summary['expected_trials']})",
    ]
    if summary.get("best"):
        lines.append(f"best trial {summary['best']['trial_id']}: valid_nll {_fmt(summary['best'].get('valid_nll'))} -> best_config.yaml")
    for name in ("all", "completed"):
        part = rc.get(name) or {}
        if part.get("rho") is not None:
            lines.append(
                f"rank correlation of valid_nll and recovery Spearman, {name} trials (n={part['n']}): "
                f"{part['rho']:+.3f} (negative: the objective ranks models like the truth)"
            )
    if not summary["complete"]:
        lines.append("the experiment is not complete: rerun the same command with --resume to continue it")
    for line in lines:
        say(line)


def _short(key: str) -> str:
    return key.removeprefix("irl.").removeprefix("model.")


def _fmt(v: Any) -> str:
    v = _plain(v)
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)

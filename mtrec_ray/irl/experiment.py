"""``mtrec irl``: learn the mental reward model from a prepared dataset, judge it, save it.

How to run::

    mtrec generate --preset default --out runs/world
    mtrec irl --data runs/world --out runs/irl            # Ray actors + Ray Train learner
    mtrec irl --data runs/ml100k --out runs/irl_ml --set use_ray=false   # plain loop

What you should see: the Ray resource summary, one line per epoch (validation NLL,
transitions/s), the evaluation, then ``runs/irl/`` holding ``model/`` (the
``MentalRewardModel`` artifact), ``metrics.json``, ``history.json`` and plots
(``learning_curves.png``, ``recovery_scatter.png``, ``quantile_fans.png``,
``calibration.png``; the last three need ground truth).

The steps:

1. **Inputs**: users are split into train / valid / test (``split_users``); engagement
   events are built with constants fitted on the training users only. Ground truth is
   used when the dataset came from the world (``ground_truth/world.json``): evaluation
   pairs of held-out users (logged slates plus never-shown items) with their true
   expected and one realised satisfaction. ``label_*`` columns are never trained on;
   ``label_rating`` only scores the rating AUC.
2. **Learner**: QR-IQL through the Ray pipeline (``mtrec_ray.irl.distributed``) or the
   plain loop (``use_ray: false``); both early-stop on the validation NLL.
3. **Judging**: recovery Spearman (bootstrap CI over users) and quantile calibration on
   the world, or rating AUC on rated logs; with ``baselines: true`` also the click,
   watch-time and engagement models and the N = 1 / gamma = 0 / continuation-only
   ablations (``mtrec_ray.eval.irl_quality``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtrec_ray.config import to_dict
from mtrec_ray.errors import ConfigError
from mtrec_ray.eval.baselines import BaselineConfig
from mtrec_ray.irl.config import IRLConfig
from mtrec_ray.irl.data import (
    EventTable,
    FeatureSpec,
    build_events,
    build_feature_spec,
    split_users,
)
from mtrec_ray.irl.distributed import DistributedConfig
from mtrec_ray.progress import Log


@dataclass
class IRLExperimentConfig:
    """One ``mtrec irl`` run: the learner, how it is distributed, how it is judged."""

    irl: IRLConfig = field(default_factory=IRLConfig)
    """QR-IQL model and optimisation."""
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    """Quantile-estimation actors and Ray Train workers."""
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    """Training of the per-event baselines."""
    use_ray: bool = True
    """Train through Ray actors + Ray Train (false: the plain single-process loop)."""
    baselines: bool = True
    """Also train the baselines and ablations the metrics compare against."""
    states_per_user: int = 10
    """Logged states per held-out user in the evaluation pairs."""
    n_unshown: int = 5
    """Never-shown items added to each evaluation state."""
    n_boot: int = 200
    """Bootstrap resamples (of users) for confidence intervals."""
    split_seed: int = 0
    """Seed of the user split and the evaluation pairs."""
    pseudo_negatives: int = 4
    """Logs without slates: random unchosen alternatives per consumption."""

    def validate(self) -> None:
        """Check ranges; messages say how to fix the value."""
        self.irl.validate()
        self.distributed.validate()
        if self.states_per_user < 1 or self.n_unshown < 0 or self.n_boot < 2:
            raise ConfigError("states_per_user >= 1, n_unshown >= 0 and n_boot >= 2 are required")
        if self.pseudo_negatives < 0:
            raise ConfigError("pseudo_negatives must be >= 0")

    def as_smoke(self) -> IRLExperimentConfig:
        """Tiny sizes for tests and ``--smoke``: 3 epochs, small model, few bootstraps."""
        smoke = IRLConfig.smoke()
        return IRLExperimentConfig(
            irl=smoke,
            distributed=DistributedConfig(
                num_shards=self.distributed.num_shards,
                actor_cpus=self.distributed.actor_cpus,
                actor_resources=dict(self.distributed.actor_resources),
                scaling=self.distributed.scaling,
            ),
            baseline=BaselineConfig(dim=smoke.model.dim, max_history=smoke.model.max_history, epochs=2),
            use_ray=self.use_ray,
            baselines=self.baselines,
            states_per_user=3,
            n_unshown=2,
            n_boot=20,
            split_seed=self.split_seed,
            pseudo_negatives=self.pseudo_negatives,
        )


@dataclass
class IRLInputs:
    """Everything the learner and the judge need from one dataset."""

    spec: FeatureSpec
    """Feature constants fitted on the training users."""
    events: dict[str, EventTable]
    """Events of the train / valid / test users."""
    logs: pd.DataFrame
    """The canonical events (``label_*`` kept for evaluation only)."""
    world: Any = None
    """The ground-truth world behind the data, or None."""
    pairs: dict[str, Any] = field(default_factory=dict)
    """Evaluation pairs of valid / test users (world data only)."""
    test_ratings: np.ndarray | None = None
    """``label_rating`` of the test events in event order (rated logs only)."""
    fingerprint: str = ""
    """Content fingerprint of the dataset's events."""
    item_keys: list[Any] = field(default_factory=list)
    """Raw item id of every dense item id (the catalogue the model is tied to)."""


def prepare_inputs(data_dir: str | Path, cfg: IRLExperimentConfig) -> IRLInputs:
    """Split users, build events (and ground-truth pairs where the world is known)."""
    from mtrec_ray.data.dataset import load_dataset
    from mtrec_ray.data.schema import sort_events

    ds = load_dataset(data_dir)
    logs = ds.events
    world = None
    if (Path(data_dir) / "ground_truth" / "world.json").exists():
        from envs.ground_truth_world import load_world_spec

        world = load_world_spec(data_dir)
    irl = cfg.irl
    users = split_users(logs["user_id"].to_numpy(), seed=cfg.split_seed)
    train_cols = [c for c in logs.columns if not c.startswith("label_")]
    has_slates = "slate_id" in logs.columns and "click" in logs.columns
    spec = build_feature_spec(
        logs.loc[logs["user_id"].isin(users["train"]), train_cols],
        n_items=ds.n_items,
        n_depth=irl.n_depth,
        max_history=irl.model.max_history,
        max_mood=irl.max_mood,
        return_days=irl.return_days,
        pseudo_negatives=0 if has_slates else cfg.pseudo_negatives,
        pseudo_seed=cfg.split_seed,
    )
    events = {k: build_events(logs.loc[logs["user_id"].isin(v), train_cols], spec) for k, v in users.items()}
    for name, ev in events.items():
        if len(ev) == 0:
            raise ConfigError(
                f"the {name} split has no events ({logs['user_id'].nunique()} users in the data); "
                "use a dataset with more users"
            )
    out = IRLInputs(
        spec=spec, events=events, logs=logs, world=world,
        fingerprint=str(ds.metadata.get("fingerprint", "")),
        item_keys=ds.item_map.sort_values("item_id").iloc[:, -1].tolist() if len(ds.item_map) else [],
    )
    if world is not None:
        from mtrec_ray.eval.reward_recovery import build_eval_pairs

        shown = {int(u): g.to_numpy() for u, g in logs.groupby("user_id")["item_id"]}
        out.pairs = {
            k: build_eval_pairs(
                events[k], world=world, spec=spec, item_durations=world.item_duration,
                shown_items=shown, states_per_user=cfg.states_per_user, n_unshown=cfg.n_unshown,
                seed=cfg.split_seed + 1 + i,
            )
            for i, k in enumerate(("valid", "test"))
        }
    elif "label_rating" in logs.columns and not has_slates:
        test_df = sort_events(logs[logs["user_id"].isin(users["test"])])
        out.test_ratings = test_df["label_rating"].to_numpy(dtype=np.float64)
    return out


def train_main(
    inputs: IRLInputs,
    cfg: IRLExperimentConfig,
    *,
    name: str,
    storage_path: str,
    in_tune: bool = False,
    log: Log | None = None,
) -> Any:
    """Train QR-IQL on the inputs (Ray pipeline or plain loop); returns the result."""
    tr, va = inputs.events["train"], inputs.events["valid"]
    if cfg.use_ray:
        from mtrec_ray.irl.distributed import train_distributed

        return train_distributed(
            tr, va, spec=inputs.spec, config=cfg.irl, dist=cfg.distributed, name=name,
            storage_path=storage_path, fingerprint=inputs.fingerprint, in_tune=in_tune,
        )
    from mtrec_ray.irl.qr_iql import train_qr_iql

    def callback(rec: dict[str, Any]) -> None:
        if log is not None:
            log(f"epoch {int(rec['epoch'])}: valid nll {rec['valid_nll']:.4f} ({rec['seconds']:.1f}s)")

    return train_qr_iql(tr, va, spec=inputs.spec, config=cfg.irl, callback=callback)


def evaluate_main(inputs: IRLInputs, result: Any, cfg: IRLExperimentConfig) -> dict[str, Any]:
    """Recovery Spearman + calibration (world) or rating AUC (rated logs) of one model."""
    from mtrec_ray.irl.data import to_tensors
    from mtrec_ray.irl.qr_iql import evaluate_nll, score_pairs

    metrics: dict[str, Any] = {
        "valid_nll": float(evaluate_nll(result.model, to_tensors(inputs.events["valid"]))),
        "test_nll": float(evaluate_nll(result.model, to_tensors(inputs.events["test"]))),
        "epochs": len(result.history),
        "best_epoch": int(result.best_epoch),
    }
    reward = result.reward_model
    if inputs.world is not None:
        from mtrec_ray.eval.reward_recovery import bootstrap_spearman, coverage, fit_rescaling

        test, valid = inputs.pairs["test"], inputs.pairs["valid"]
        q_test = score_pairs(reward, test.hist_items, test.hist_feats, test.items)
        q_valid = score_pairs(reward, valid.hist_items, valid.hist_feats, valid.items)
        s, ci = bootstrap_spearman(q_test.mean(-1), test.truth, test.user, n_boot=cfg.n_boot, seed=cfg.split_seed)
        resc = fit_rescaling(q_valid, valid.realised)
        cov, err = coverage(q_test, test.realised, resc)
        metrics.update(spearman=s, spearman_ci95=list(ci), coverage_error=err, coverage=[float(c) for c in cov])
    elif inputs.test_ratings is not None:
        from mtrec_ray.eval.reward_recovery import rating_auc

        te = inputs.events["test"]
        q = score_pairs(reward, te.hist_items, te.hist_feats, te.item[:, None])[:, 0]
        metrics["auc_rating"] = rating_auc(q.mean(-1), inputs.test_ratings)
    return metrics


def evaluate_baselines(
    inputs: IRLInputs, result: Any, cfg: IRLExperimentConfig, *, log: Log | None = None
) -> dict[str, Any]:
    """Baselines and ablations, judged the same way as the main model.

    World data: click, watch-time (best target transform on validation loss) and
    engagement models, and the N = 1, gamma = 0 and continuation-only ablations
    (``mtrec_ray.eval.irl_quality.world_quality``, with the main model as trained).
    Rated logs: the click model's and item popularity's rating AUC.
    """
    from mtrec_ray.eval import baselines as B

    if inputs.world is not None:
        from mtrec_ray.eval.irl_quality import WorldData, world_quality

        data = WorldData(spec=inputs.spec, events=inputs.events, pairs=inputs.pairs)
        baseline = _baseline_config(cfg)
        out = world_quality(
            None, irl=cfg.irl, baseline=baseline, seed=cfg.split_seed, n_boot=cfg.n_boot,
            log=log, data=data, trained={"qr_iql": result},
        )
        flat = {
            k: v for k, v in out.items()
            if (k.startswith("spearman_") or k.startswith("coverage_error_"))
            and not isinstance(v, dict)
        }
        flat["baseline_details"] = {
            k: v for k, v in out.items()
            if k not in flat and k not in ("spearman", "spearman_ci95", "coverage_error")
        }
        return flat
    if inputs.test_ratings is not None:
        from mtrec_ray.eval.reward_recovery import rating_auc

        tr, va, te = inputs.events["train"], inputs.events["valid"], inputs.events["test"]
        click = B.fit_per_event(
            tr, B.click_rows(tr), va, B.click_rows(va), spec=inputs.spec, kinds=["bce"],
            config=_baseline_config(cfg),
        )
        pc = B.predict_pairs(click.model, te.hist_items, te.hist_feats, te.item[:, None], te.nuis[:, None])[:, 0, 0]
        return {
            "auc_rating_click_model": rating_auc(pc, inputs.test_ratings),
            "auc_rating_popularity": rating_auc(B.popularity(tr, inputs.spec.n_items)[te.item], inputs.test_ratings),
        }
    return {}


def _baseline_config(cfg: IRLExperimentConfig) -> BaselineConfig:
    """Baselines get the reward model's features: same encoder, width and history."""
    import dataclasses

    return dataclasses.replace(
        cfg.baseline, encoder=cfg.irl.model.encoder, dim=cfg.irl.model.dim,
        max_history=cfg.irl.model.max_history, seed=cfg.irl.seed, device=cfg.irl.device,
    )


def write_plots(inputs: IRLInputs, result: Any, metrics: dict[str, Any], out: Path) -> list[str]:
    """Learning curves; with ground truth also recovery scatter, quantile fans, calibration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mtrec_ray.irl.qr_iql import score_pairs

    written = []
    hist = result.history
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([h["epoch"] for h in hist], [h["valid_nll"] for h in hist], marker="o", label="valid NLL")
    if hist and "nll" in hist[0]:
        ax.plot([h["epoch"] for h in hist], [h["nll"] for h in hist], marker=".", label="train NLL")
    ax.set_xlabel("epoch")
    ax.set_ylabel("negative log-likelihood")
    ax.legend()
    ax.set_title("QR-IQL learning curves")
    fig.tight_layout()
    fig.savefig(out / "learning_curves.png", dpi=110)
    plt.close(fig)
    written.append("learning_curves.png")
    if inputs.world is None:
        return written
    test = inputs.pairs["test"]
    q = score_pairs(result.reward_model, test.hist_items, test.hist_feats, test.items)
    mean = q.mean(-1).ravel()
    truth = test.truth.ravel()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(truth, mean, s=4, alpha=0.3)
    ax.set_xlabel("true expected satisfaction")
    ax.set_ylabel("learned mean mental reward")
    ax.set_title(f"recovery (Spearman {metrics.get('spearman', float('nan')):.3f})")
    fig.tight_layout()
    fig.savefig(out / "recovery_scatter.png", dpi=110)
    plt.close(fig)
    written.append("recovery_scatter.png")
    # Quantile fans: a few items' quantiles in one state, sorted by the learned mean.
    flat_q = q.reshape(-1, q.shape[-1])
    order = np.argsort(flat_q.mean(-1))
    pick = order[np.linspace(0, order.size - 1, num=min(12, order.size)).astype(int)]
    taus = (2 * np.arange(q.shape[-1]) + 1) / (2 * q.shape[-1])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for j, row in enumerate(pick):
        ax.plot([j] * len(taus), flat_q[row], "_", markersize=10, color="tab:blue", alpha=0.6)
        ax.scatter([j], [truth[row]], color="tab:red", s=12, zorder=3)
    ax.set_xlabel("(state, item) pairs, by learned mean")
    ax.set_ylabel("mental reward quantiles (blue), truth (red)")
    ax.set_title("quantile fans")
    fig.tight_layout()
    fig.savefig(out / "quantile_fans.png", dpi=110)
    plt.close(fig)
    written.append("quantile_fans.png")
    if "coverage" in metrics:
        from mtrec_ray.eval.reward_recovery import CALIBRATION_TAUS

        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot(CALIBRATION_TAUS, metrics["coverage"], marker="o", label="QR-IQL")
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="ideal")
        ax.set_xlabel("tau")
        ax.set_ylabel("share of realised satisfaction below the tau-quantile")
        ax.set_title(f"calibration (error {metrics.get('coverage_error', float('nan')):.3f})")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "calibration.png", dpi=110)
        plt.close(fig)
        written.append("calibration.png")
    return written


def run_irl(
    data_dir: str | Path,
    out_dir: str | Path,
    cfg: IRLExperimentConfig,
    *,
    storage_path: str | None = None,
    name: str = "irl",
    log: Log | None = None,
) -> dict[str, Any]:
    """The whole ``mtrec irl`` job; writes the artifact, metrics, history and plots."""
    cfg.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = log or (lambda _msg: None)
    t0 = time.perf_counter()
    inputs = prepare_inputs(data_dir, cfg)
    say(
        f"events: train {len(inputs.events['train'])}, valid {len(inputs.events['valid'])}, "
        f"test {len(inputs.events['test'])}; ground truth: {'yes' if inputs.world is not None else 'no'}"
    )
    t1 = time.perf_counter()
    result = train_main(
        inputs, cfg, name=name, storage_path=storage_path or str((out / "ray_results").resolve()), log=log,
    )
    t2 = time.perf_counter()
    if cfg.use_ray:  # the plain loop reports its epochs as they happen
        for h in result.history:
            say(
                f"epoch {int(h['epoch'])}: valid nll {h['valid_nll']:.4f}, "
                f"{h['transitions_per_s']:.0f} transitions/s, actors on {h['actor_nodes'].count(',') + 1} node(s)"
            )
    metrics: dict[str, Any] = evaluate_main(inputs, result, cfg)
    if cfg.baselines:
        metrics.update(evaluate_baselines(inputs, result, cfg, log=log))
    t3 = time.perf_counter()
    metrics["timing_s"] = {"prepare": t1 - t0, "train": t2 - t1, "evaluate": t3 - t2}
    metrics["seconds_per_epoch"] = float(np.mean([h["seconds"] for h in result.history])) if result.history else 0.0
    metrics["use_ray"] = cfg.use_ray
    _save_model(result.reward_model, out / "model", inputs, cfg)
    (out / "history.json").write_text(json.dumps(result.history, indent=2, default=float))
    (out / "config.yaml").write_text(__import__("yaml").safe_dump(to_dict(cfg), sort_keys=False))
    metrics["plots"] = write_plots(inputs, result, metrics, out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    return metrics


def _save_model(reward: Any, directory: Path, inputs: IRLInputs, cfg: IRLExperimentConfig) -> Path:
    """Save the artifact tied to the dataset's catalogue (raw item ids) and features."""
    from mtrec_ray.models.reward_model import catalogue_fingerprint

    keys = inputs.item_keys or list(range(inputs.spec.n_items))
    reward.item_fingerprint = catalogue_fingerprint(keys)
    reward.metadata = {
        **reward.metadata,
        "dataset_fingerprint": inputs.fingerprint,
        "feature_spec": inputs.spec.to_dict(),
        "irl": to_dict(cfg.irl),
    }
    from mtrec_ray.irl.scoring import item_log_duration

    ld = item_log_duration(inputs.logs, inputs.spec.n_items)
    if ld is not None:
        reward.metadata["item_log_duration"] = [round(float(x), 5) for x in ld]
    return reward.save(directory)

"""QR-IQL on Ray: quantile-estimation actors feeding a Ray Train learner.

The loop, top to bottom:

1. The driver builds the engagement events of the training users once
   (``mtrec_ray.irl.data``) and puts them in the object store. Users are hashed into
   ``num_shards`` shards (``user_id % num_shards``); whole users stay together, so a
   shard's next-event links never leave it.
2. ``num_shards`` :class:`QuantileEstimator` actors, spread over the cluster's nodes,
   each take their shard from the object store. On a restart (``max_restarts``) an
   actor rebuilds its shard the same way, and Ray retries the call it was serving
   (``max_task_retries``), so no transition is lost or counted twice.
3. The learner is a Ray Train ``TorchTrainer`` (``train_loop_per_worker`` below; DDP
   through ``ray.train.torch.prepare_model``, on GPU workers when ``use_gpu``). Worker
   ``r`` owns the shards ``s`` with ``s % world_size == r``. Each round (every
   ``target_every`` epochs) it publishes its lagged weights **once** (``ray.put``),
   asks its shards' actors for the next-state soft-value quantile targets and
   diagnostics (quantile coverage, reward statistics, transitions per second), and
   takes the results as they stream in (``ray.wait``).
4. Every worker runs the same number of minibatch steps per epoch on its shards,
   minimising ``qr_iql_loss`` (likelihood of the users' engagement + quantile Huber
   loss of the critic against the actors' targets). After each epoch the workers
   score the validation users (early stopping on the validation negative
   log-likelihood) and report; rank 0 checkpoints weights, optimiser, epoch, config,
   history and the data fingerprint. A worker failure restarts the group from the
   latest checkpoint (``FailureConfig``); re-running with the same ``name`` resumes.

The plain single-process loop (``train_qr_iql``) and this one share the model, the
targets and the loss, so ``benchmarks/irl.py`` compares like with like.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtrec_ray.config import from_dict, to_dict
from mtrec_ray.errors import ConfigError
from mtrec_ray.irl.config import IRLConfig
from mtrec_ray.irl.data import EventTable, FeatureSpec
from mtrec_ray.training import ScalingOptions


@dataclass
class DistributedConfig:
    """How QR-IQL is spread over Ray: actors for targets, Ray Train workers for the learner."""

    num_shards: int = 2
    """Quantile-estimation actors; each holds the events of 1/num_shards of the users."""
    actor_cpus: float = 0.5
    """CPUs reserved per actor."""
    actor_resources: dict[str, float] = field(default_factory=dict)
    """Custom resources per actor, e.g. {rollout: 0.1} to keep them on CPU worker nodes."""
    actor_max_restarts: int = 3
    """Restarts of a failed actor (it rebuilds its shard; the pending call is retried)."""
    scaling: ScalingOptions = field(default_factory=ScalingOptions)
    """Ray Train workers of the learner (num_workers, use_gpu, max_failures...)."""
    crash_at_epoch: int = -1
    """Testing aid: rank 0 raises once at this epoch to exercise failure recovery (-1: off)."""
    actor_crash_at_round: int = -1
    """Testing aid: actor 0's process exits once while serving this round (-1: off)."""

    def validate(self) -> None:
        """Check ranges; messages say how to fix the value."""
        self.scaling.validate()
        if self.num_shards < 1:
            raise ConfigError(f"distributed.num_shards must be >= 1, got {self.num_shards}")
        if self.num_shards < self.scaling.num_workers:
            raise ConfigError(
                f"distributed.num_shards ({self.num_shards}) must be >= scaling.num_workers "
                f"({self.scaling.num_workers}): every learner worker needs a shard"
            )
        if self.actor_cpus < 0:
            raise ConfigError("distributed.actor_cpus must be >= 0")
        if self.actor_max_restarts < 0:
            raise ConfigError("distributed.actor_max_restarts must be >= 0")


def shard_rows(events: EventTable, shard: int, num_shards: int) -> np.ndarray:
    """Rows of the events whose user hashes to ``shard`` (whole users per shard)."""
    return np.flatnonzero(events.user % num_shards == shard)


def quantile_coverage(predicted: np.ndarray, targets: np.ndarray, taus: np.ndarray) -> float:
    """Mean |P(target <= predicted tau-quantile) - tau| over quantile levels.

    ``predicted (E, N)`` are the critic's quantiles, ``targets (E, N)`` samples of the
    target distribution for the same events: a calibrated critic scores 0.
    """
    if predicted.size == 0:
        return float("nan")
    below = (targets[:, None, :] <= predicted[:, :, None]).mean(axis=(0, 2))
    return float(np.abs(below - taus).mean())


class QuantileEstimatorImpl:
    """Holds one shard of training events; computes its targets with published weights.

    Wrapped as a Ray actor by :func:`make_estimators`; usable in-process for tests.
    """

    def __init__(
        self,
        *,
        events: EventTable,
        spec: dict[str, Any],
        irl: dict[str, Any],
        shard: int,
        num_shards: int,
        crash_at_round: int = -1,
        crash_marker: str = "",
    ) -> None:
        import torch

        torch.set_num_threads(1)
        from mtrec_ray.irl.data import to_tensors
        from mtrec_ray.irl.qr_iql import QRIQLModel

        self.shard = shard
        self.table = events.subset(shard_rows(events, shard, num_shards))
        self.tensors = to_tensors(self.table)
        self.model = QRIQLModel(spec=FeatureSpec(**spec), config=from_dict(IRLConfig, irl))
        self.calls = 0
        self.node_id = _node_id()
        self.crash_at_round = crash_at_round
        self.crash_marker = crash_marker

    def size(self) -> int:
        """Events in this shard."""
        return len(self.table)

    def estimate(self, weights: dict[str, Any], round_index: int) -> dict[str, Any]:
        """Targets for every event of the shard with the given (lagged) weights.

        Returns ``shard``, ``round``, ``next_value (E, N)``, ``has_next (E,)`` as numpy,
        and ``diagnostics`` (events, seconds, transitions/s, critic quantile coverage,
        mental-reward mean/std/mean spread of the consumed items).
        """
        import torch

        from mtrec_ray.irl.data import index_batch
        from mtrec_ray.irl.qr_iql import compute_targets, event_outputs

        if round_index == self.crash_at_round and self.crash_marker:
            import os
            from pathlib import Path

            marker = Path(self.crash_marker)
            if not marker.exists():
                marker.write_text(f"shard {self.shard} crashed in round {round_index}")
                os._exit(1)  # a real process death: Ray restarts the actor, retries the call
        t0 = time.perf_counter()
        self.model.load_state_dict(weights)
        self.model.eval()
        targets = compute_targets(self.model, self.tensors)
        with torch.no_grad():
            n = len(self.table)
            take = torch.arange(min(n, 4096))
            out = event_outputs(self.model, index_batch(self.tensors, take))
            has_next = targets["has_next"][take]
            pred = out.critic_next[has_next].numpy()
            tgt = targets["next_value"][take][has_next].numpy()
            coverage = quantile_coverage(pred, tgt, self.model.taus.numpy())
            consumed = self.tensors["item"][take] < self.model.spec.n_items
            rho = out.rho[consumed].numpy()
        seconds = time.perf_counter() - t0
        self.calls += 1
        return {
            "shard": self.shard,
            "round": round_index,
            "next_value": targets["next_value"].numpy(),
            "has_next": targets["has_next"].numpy(),
            "diagnostics": {
                "shard": self.shard,
                "events": n,
                "seconds": seconds,
                "transitions_per_s": n / max(seconds, 1e-9),
                "critic_coverage_error": coverage,
                "reward_mean": float(rho.mean()) if rho.size else float("nan"),
                "reward_std": float(rho.mean(-1).std()) if rho.size else float("nan"),
                "reward_spread": float(rho.std(-1).mean()) if rho.size else float("nan"),
                "calls": self.calls,
                "node_id": self.node_id,
            },
        }


def _node_id() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:  # outside Ray
        return "local"


def make_estimators(
    events_ref: Any,
    *,
    spec: FeatureSpec,
    irl: IRLConfig,
    dist: DistributedConfig,
    crash_marker: str = "",
) -> list[Any]:
    """Start ``num_shards`` estimator actors, spread over nodes, restartable."""
    import ray

    remote_cls = ray.remote(QuantileEstimatorImpl)
    actors = []
    for shard in range(dist.num_shards):
        actors.append(
            remote_cls.options(
                num_cpus=dist.actor_cpus,
                resources=dict(dist.actor_resources) or None,
                max_restarts=dist.actor_max_restarts,
                max_task_retries=dist.actor_max_restarts,
                scheduling_strategy="SPREAD",
                name=None,
            ).remote(
                events=events_ref,
                spec=spec.to_dict(),
                irl=to_dict(irl),
                shard=shard,
                num_shards=dist.num_shards,
                crash_at_round=dist.actor_crash_at_round if shard == 0 else -1,
                crash_marker=crash_marker,
            )
        )
    return actors


def _concat_targets(parts: list[dict[str, Any]], n_quantiles: int) -> tuple[np.ndarray, np.ndarray]:
    if not parts:
        return np.zeros((0, n_quantiles), np.float32), np.zeros(0, bool)
    return (
        np.concatenate([p["next_value"] for p in parts]),
        np.concatenate([p["has_next"] for p in parts]),
    )


def _sum_over_workers(value: int, world: int, dev: Any) -> int:
    """Sum an integer over the Ray Train workers (all ranks must call it)."""
    if world == 1:
        return int(value)
    import torch
    import torch.distributed as torch_dist

    t = torch.tensor([value], dtype=torch.int64, device=dev)
    torch_dist.all_reduce(t)
    return int(t.item())


def _recentre_critic(model: Any, next_value: Any, has_next: Any, world: int, dev: Any) -> None:
    """``update_critic_offset`` on the targets of all workers (the global mean)."""
    import torch

    from mtrec_ray.irl.qr_iql import update_critic_offset

    if world == 1:
        update_critic_offset(model, {"next_value": next_value, "has_next": has_next})
        return
    import torch.distributed as torch_dist

    mask = has_next
    stats = torch.tensor(
        [float(next_value[mask].sum()) / max(next_value.shape[-1], 1), float(mask.sum())],
        dtype=torch.float64, device=dev,
    )
    torch_dist.all_reduce(stats)
    if stats[1] > 0:
        with torch.no_grad():
            model.critic.offset.fill_(float(stats[0] / stats[1]))


def train_loop_per_worker(cfg: dict[str, Any]) -> None:
    """Ray Train worker loop of the distributed QR-IQL learner (see the module docstring)."""
    import ray
    import ray.train
    import torch

    from mtrec_ray.irl.data import index_batch, to_tensors
    from mtrec_ray.irl.qr_iql import QRIQLModel, evaluate_nll, qr_iql_loss
    from mtrec_ray.training import device as train_device
    from mtrec_ray.training import report_epoch, restore_state, unwrap

    torch.set_num_threads(int(cfg.get("torch_threads", 1)))
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    spec = FeatureSpec(**cfg["spec"])
    irl = from_dict(IRLConfig, cfg["irl"])
    estimators = cfg["estimators"]
    num_shards = len(estimators)
    my_shards = [s for s in range(num_shards) if s % world == rank]
    dev = train_device()

    # This worker's training events: its shards, concatenated in shard order.
    train_all: EventTable = ray.get(cfg["train_ref"])
    rows = np.concatenate([shard_rows(train_all, s, num_shards) for s in my_shards])
    table = train_all.subset(rows)
    tr = to_tensors(table, dev)
    va = to_tensors(ray.get(cfg["valid_ref"]), dev)
    n_local = len(table)
    steps_per_epoch = int(cfg["steps_per_epoch"])
    del train_all

    torch.manual_seed(irl.seed)
    model = QRIQLModel(spec=spec, config=irl).to(dev)

    class _Objective(torch.nn.Module):
        """Wraps the model so DDP sees the loss computation as its forward."""

        def __init__(self, inner: QRIQLModel) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, batch: dict, targets: dict):  # noqa: ANN201
            return qr_iql_loss(self.inner, batch, targets)

    objective: torch.nn.Module = _Objective(model)
    if world > 1:
        import ray.train.torch

        objective = ray.train.torch.prepare_model(
            objective, parallel_strategy_kwargs={"find_unused_parameters": True}
        )
    opt = torch.optim.Adam(model.parameters(), lr=irl.lr)

    start, history = 0, []
    best, best_state, best_epoch, bad = math.inf, copy.deepcopy(model.state_dict()), 0, 0
    state = restore_state()
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = int(state["epoch"]) + 1
        history = list(state["history"])
        best, best_epoch, bad = float(state["best"]), int(state["best_epoch"]), int(state["bad"])
        best_state = state["best_model"]
        if bad >= irl.patience:
            start = irl.epochs  # the run had already stopped early
    gen = torch.Generator().manual_seed(irl.seed * 1000 + rank)
    next_value = torch.zeros(n_local, model.n_quantiles, device=dev)
    has_next = torch.zeros(n_local, dtype=torch.bool, device=dev)
    diagnostics: list[dict[str, Any]] = []

    for epoch in range(start, irl.epochs):
        t0 = time.perf_counter()
        used = 0
        targeted = 0
        if (epoch - start) == 0 or epoch % irl.target_every == 0:
            # Publish the lagged weights once; stream each shard's targets as it finishes.
            weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            weights_ref = ray.put(weights)
            pending = {estimators[s].estimate.remote(weights_ref, epoch): s for s in my_shards}
            parts: dict[int, dict[str, Any]] = {}
            diagnostics = []
            waiting = list(pending)
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                res = ray.get(done[0])
                parts[res["shard"]] = res
                diagnostics.append(res["diagnostics"])
            nv, hn = _concat_targets([parts[s] for s in my_shards], model.n_quantiles)
            targeted = int(nv.shape[0])
            next_value = torch.as_tensor(nv, device=dev)
            has_next = torch.as_tensor(hn, device=dev)
            _recentre_critic(model, next_value, has_next, world, dev)
        t_targets = time.perf_counter() - t0
        model.train()
        sums = {"loss": 0.0, "nll": 0.0, "td": 0.0}
        perm = torch.randperm(n_local, generator=gen)
        cursor = 0
        for _ in range(steps_per_epoch):
            if cursor + irl.batch_size > n_local:
                perm, cursor = torch.randperm(n_local, generator=gen), 0
            batch_rows = perm[cursor : cursor + irl.batch_size].to(dev)
            cursor += irl.batch_size
            batch = index_batch(tr, batch_rows)
            tgt = {"next_value": next_value[batch_rows], "has_next": has_next[batch_rows]}
            loss, stats = objective(batch, tgt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            used += int(batch_rows.numel())
            sums["loss"] += float(loss.detach())
            sums["nll"] += stats["nll"]
            sums["td"] += stats["td"]
        if cfg.get("crash_at_epoch", -1) == epoch and rank == 0 and state is None:
            raise RuntimeError(f"injected learner failure at epoch {epoch} (crash_at_epoch)")
        val_nll = evaluate_nll(model, va)
        record = {k: v / max(steps_per_epoch, 1) for k, v in sums.items()}
        record.update(
            epoch=epoch,
            valid_nll=val_nll,
            seconds=time.perf_counter() - t0,
            target_seconds=t_targets,
            transitions_used=used * world,
            transitions_targeted=_sum_over_workers(targeted, world, dev),
            transitions_per_s=used * world / max(time.perf_counter() - t0, 1e-9),
            actor_transitions_per_s=float(np.mean([d["transitions_per_s"] for d in diagnostics]))
            if diagnostics
            else float("nan"),
            critic_coverage_error=float(np.nanmean([d["critic_coverage_error"] for d in diagnostics]))
            if diagnostics
            else float("nan"),
            reward_mean=float(np.nanmean([d["reward_mean"] for d in diagnostics]))
            if diagnostics
            else float("nan"),
            actor_nodes=",".join(sorted({d["node_id"] for d in diagnostics})),
        )
        history.append(record)
        if val_nll < best - 1e-5:
            best, best_state, best_epoch, bad = val_nll, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            bad += 1
        report_epoch(
            {**record, "best_valid_nll": best, "best_epoch": best_epoch},
            {
                "model": unwrap(model).state_dict(),
                "best_model": best_state,
                "optimizer": opt.state_dict(),
                "epoch": epoch,
                "best": best,
                "best_epoch": best_epoch,
                "bad": bad,
                "history": history,
                "config": cfg["irl"],
                "spec": cfg["spec"],
                "fingerprint": cfg.get("fingerprint", ""),
            },
        )
        if bad >= irl.patience:
            break


@dataclass
class DistributedResult:
    """What :func:`train_distributed` returns."""

    model: Any
    """The behaviour model (``QRIQLModel``) with the best validation weights."""
    history: list[dict[str, Any]]
    """Per-epoch statistics, including transitions used and actor diagnostics."""
    best_epoch: int
    """Epoch of the restored weights."""
    path: str
    """Where Ray Train stored the run (checkpoints)."""

    @property
    def reward_model(self) -> Any:
        """The learned mental reward model (the artifact)."""
        return self.model.reward


def train_distributed(
    train: EventTable,
    valid: EventTable,
    *,
    spec: FeatureSpec,
    config: IRLConfig,
    dist: DistributedConfig,
    name: str,
    storage_path: str,
    fingerprint: str = "",
    in_tune: bool = False,
    on_actors: Any = None,
) -> DistributedResult:
    """Train QR-IQL with quantile-estimation actors and a Ray Train learner.

    Args:
        train, valid: events of the training and validation users.
        spec: feature constants of the data; config: QR-IQL hyper-parameters.
        dist: actors and learner workers; name, storage_path: the Ray Train run
            (re-running with the same pair resumes from its latest checkpoint).
        fingerprint: the dataset's content fingerprint, saved in checkpoints.
        in_tune: report every epoch to the enclosing Ray Tune trial.
        on_actors: optional callback given the actor handles once they exist (tests
            use it to kill an actor mid-run).
    """
    import ray

    from mtrec_ray.irl.qr_iql import QRIQLModel
    from mtrec_ray.training import load_result_state, run_trainer

    config.validate()
    dist.validate()
    dist.scaling.require_gpus(f"trainer '{name}'")  # before any actor starts
    train_ref = ray.put(train)
    valid_ref = ray.put(valid)
    from pathlib import Path

    from mtrec_ray.storage import is_uri

    marker = ""
    if dist.actor_crash_at_round >= 0 and not is_uri(storage_path):
        Path(storage_path).mkdir(parents=True, exist_ok=True)
        marker = str(Path(storage_path) / f"{name}.actor_crash_marker")
    actors = make_estimators(train_ref, spec=spec, irl=config, dist=dist, crash_marker=marker)
    sizes = ray.get([a.size.remote() for a in actors])
    if on_actors is not None:
        on_actors(actors)
    world = dist.scaling.num_workers
    per_worker = [
        sum(sizes[s] for s in range(dist.num_shards) if s % world == r) for r in range(world)
    ]
    if min(per_worker) == 0:
        raise ConfigError(
            f"a learner worker has no training events (events per worker: {per_worker}); "
            "use fewer workers or more shards/users"
        )
    steps = max(1, math.ceil(len(train) / world / config.batch_size))
    loop_config = {
        "spec": spec.to_dict(),
        "irl": to_dict(config),
        "estimators": actors,
        "train_ref": train_ref,
        "valid_ref": valid_ref,
        "steps_per_epoch": steps,
        "fingerprint": fingerprint,
        "crash_at_epoch": dist.crash_at_epoch,
    }
    try:
        result = run_trainer(
            train_loop_per_worker,
            loop_config,
            scaling=dist.scaling,
            name=name,
            storage_path=storage_path,
            in_tune=in_tune,
        )
        state = load_result_state(result)
    finally:
        for a in actors:
            ray.kill(a, no_restart=True)
    model = QRIQLModel(spec=spec, config=config)
    model.load_state_dict(state["best_model"])
    model.eval()
    return DistributedResult(
        model=model,
        history=list(state["history"]),
        best_epoch=int(state["best_epoch"]),
        path=str(result.path),
    )

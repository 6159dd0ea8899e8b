"""One place for Ray Train: the TorchTrainer launcher and the in-loop helpers.

Both the distributional IRL learner and the sequential recommenders train through
``run_trainer``; their ``train_loop_per_worker`` functions use ``device()``,
``restore_state()`` and ``report_epoch()`` from here, so checkpointing, resume after a
worker failure, GPU placement and Tune reporting behave the same everywhere.

Ray 2.60 runs Ray Train V2: ``ray.train.report`` is a barrier every rank must call
(rank 0 passes the checkpoint, others ``None``); ``ray.train.get_checkpoint()`` gives the
latest checkpoint after a restart; re-running with the same ``name`` and
``storage_path`` resumes automatically. Inside a Ray Tune trial the trainer gets
``TuneReportCallback`` so every epoch's metrics reach Tune's scheduler.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtrec_ray.errors import ConfigError

STATE_FILE = "state.pt"


@dataclass
class ScalingOptions:
    """How many Ray Train workers, on what hardware, with what fault tolerance."""

    num_workers: int = 1
    """Data-parallel workers (DDP); each gets a shard of every batch stream."""
    use_gpu: bool = False
    """Put each worker on a GPU (cluster GPU nodes); false trains on CPU."""
    cpus_per_worker: float = 1.0
    """CPUs reserved per worker."""
    gpus_per_worker: float = 1.0
    """GPUs per worker when use_gpu is true (fractions pack several workers on one GPU)."""
    resources_per_worker: dict[str, float] = field(default_factory=dict)
    """Extra custom resources per worker, e.g. {learner: 1} to pin learners to GPU nodes."""
    max_failures: int = 1
    """Worker-group restarts from the latest checkpoint before the run fails."""
    keep_checkpoints: int = 2
    """Checkpoints kept on storage (the latest are kept)."""

    def validate(self) -> None:
        """Check ranges; messages say how to fix the value."""
        if self.num_workers < 1:
            raise ConfigError(f"scaling.num_workers must be >= 1, got {self.num_workers}")
        if self.cpus_per_worker <= 0:
            raise ConfigError("scaling.cpus_per_worker must be > 0 (try 1)")
        if self.use_gpu and self.gpus_per_worker <= 0:
            raise ConfigError("scaling.gpus_per_worker must be > 0 when use_gpu is true")
        if self.max_failures < 0:
            raise ConfigError("scaling.max_failures must be >= 0 (-1 is not supported here)")
        if self.keep_checkpoints < 1:
            raise ConfigError("scaling.keep_checkpoints must be >= 1")

    def require_gpus(self, what: str) -> None:
        """With ``use_gpu``, fail fast unless the cluster has or can scale to the GPUs needed."""
        if self.use_gpu:
            from mtrec_ray.ray_utils import require_gpus

            require_gpus(self.gpus_per_worker * self.num_workers, what=what)


def run_trainer(
    train_loop_per_worker: Callable[[dict[str, Any]], None],
    loop_config: dict[str, Any],
    *,
    scaling: ScalingOptions,
    name: str,
    storage_path: str,
    in_tune: bool = False,
) -> Any:
    """Build and fit a ``TorchTrainer``; returns the ``ray.train.Result``.

    Fails fast, before any worker starts, when ``use_gpu`` is set and the cluster has
    no GPU (see ``mtrec_ray.ray_utils.require_gpus``).
    """
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    scaling.validate()
    scaling.require_gpus(f"trainer '{name}'")
    resources: dict[str, float] = {"CPU": scaling.cpus_per_worker, **scaling.resources_per_worker}
    if scaling.use_gpu:
        resources["GPU"] = scaling.gpus_per_worker
    callbacks = []
    if in_tune:
        from ray.tune.integration.ray_train import TuneReportCallback

        callbacks.append(TuneReportCallback())
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(
            num_workers=scaling.num_workers,
            use_gpu=scaling.use_gpu,
            resources_per_worker=resources,
        ),
        run_config=RunConfig(
            name=name,
            storage_path=storage_path,
            failure_config=FailureConfig(max_failures=scaling.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=scaling.keep_checkpoints),
            callbacks=callbacks or None,
            worker_runtime_env={"env_vars": {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}},
        ),
    )
    return trainer.fit()


# ------------------------------------------------------------------ in-loop helpers


def world_rank() -> int:
    """Rank of this worker (0 outside Ray Train)."""
    import ray.train

    try:
        return ray.train.get_context().get_world_rank()
    except Exception:  # outside a Train worker
        return 0


def device() -> Any:
    """The torch device Ray Train assigned to this worker (cuda:i or cpu)."""
    import ray.train.torch

    return ray.train.torch.get_device()


def restore_state() -> dict[str, Any] | None:
    """The state dict saved by the latest ``report_epoch`` checkpoint, or None on a fresh start."""
    import ray.train
    import torch

    ckpt = ray.train.get_checkpoint()
    if ckpt is None:
        return None
    with ckpt.as_directory() as d:
        return torch.load(Path(d) / STATE_FILE, map_location="cpu", weights_only=True)


def report_epoch(metrics: dict[str, Any], state: dict[str, Any] | None) -> None:
    """Report one epoch's metrics; rank 0 also writes ``state`` as the checkpoint.

    Every rank must call this (it is a barrier). ``state`` holds only tensors and
    plain Python values (weights, optimiser state, epoch, config, history) so it loads
    back with ``torch.load(weights_only=True)``.
    """
    import ray.train
    import torch

    if world_rank() == 0 and state is not None:
        with tempfile.TemporaryDirectory() as tmp:
            torch.save(state, Path(tmp) / STATE_FILE)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
    else:
        ray.train.report(metrics, checkpoint=None)


def load_result_state(result: Any) -> dict[str, Any]:
    """Load the state dict of a finished run's latest checkpoint (driver side)."""
    import torch

    if result.checkpoint is None:
        raise ConfigError(f"the training run {result.path} produced no checkpoint")
    with result.checkpoint.as_directory() as d:
        return torch.load(Path(d) / STATE_FILE, map_location="cpu", weights_only=True)


def unwrap(model: Any) -> Any:
    """The plain module under a DDP wrapper (for state dicts)."""
    return getattr(model, "module", model)

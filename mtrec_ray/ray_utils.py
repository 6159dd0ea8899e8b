"""Starting or joining Ray, and the resource summary every job logs at start."""

from __future__ import annotations

import os
from typing import Any

from mtrec_ray.errors import ConfigError
from mtrec_ray.progress import console_print


def init_ray(address: str | None = None, *, num_cpus: int | None = None, quiet: bool = False) -> Any:
    """Start a local Ray (``address`` None or "local") or join a cluster ("auto", "ray://...").

    With ``address`` None inside a Ray job (``RAY_ADDRESS`` set) the job's cluster is
    joined. Idempotent: an already-initialised Ray is reused. Logs the cluster's resources.
    """
    import ray

    if not ray.is_initialized():
        if address in (None, "") and os.environ.get("RAY_ADDRESS"):
            # Inside `ray job submit`: the job's cluster (RAY_ADDRESS) and runtime env apply.
            ray.init()
        elif address in (None, "", "local"):
            # A bare ray.init() would join the latest cluster started on this machine;
            # "local" always starts our own.
            env_vars = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                     log_to_driver=False, runtime_env={"env_vars": env_vars})
        else:
            # Inside `ray job submit` the job's runtime env applies; adding one here would
            # conflict with it, so a cluster connection passes none.
            ray.init(address=address)
    if not quiet:
        console_print(resource_summary())
    return ray


def cluster_resources() -> dict[str, float]:
    """Total resources of the connected cluster."""
    import ray

    return dict(ray.cluster_resources())


def resource_summary() -> str:
    """One line naming nodes, CPUs, GPUs and custom resources of the cluster."""
    import ray

    total = cluster_resources()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    custom = {
        k: v
        for k, v in total.items()
        if k not in ("CPU", "GPU", "memory", "object_store_memory")
        and not k.startswith("node:")
        and not k.startswith("accelerator_type")
    }
    gib = total.get("memory", 0) / 2**30
    return (
        f"mtrec: Ray resources: nodes={len(nodes)} CPU={total.get('CPU', 0):g} "
        f"GPU={total.get('GPU', 0):g} memory={gib:.1f}GiB"
        + (f" custom={custom}" if custom else "")
    )


def require_gpus(n_gpus: float, *, what: str) -> None:
    """Fail fast when ``use_gpu`` is asked but the cluster has no GPU and cannot scale to one.

    A cluster with an autoscaler that has a GPU worker type may report 0 GPUs until it
    scales; set MTREC_ALLOW_GPU_AUTOSCALE=1 on such clusters to skip this check.
    """
    if n_gpus <= 0 or os.environ.get("MTREC_ALLOW_GPU_AUTOSCALE") == "1":
        return
    have = cluster_resources().get("GPU", 0.0)
    if have < n_gpus:
        raise ConfigError(
            f"{what} asks for {n_gpus:g} GPU(s) (use_gpu=true) but the Ray cluster has {have:g}. "
            "Set use_gpu=false to train on CPU, connect to a cluster with GPU nodes "
            "(--address auto), or, if your cluster autoscales GPU workers from zero, "
            "export MTREC_ALLOW_GPU_AUTOSCALE=1."
        )

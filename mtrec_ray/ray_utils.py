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


AUTOSCALING_CONFIG_ENV = "MTREC_AUTOSCALING_CONFIG"
"""Environment variable naming the autoscaler's config file (default: where ``ray up`` puts it)."""
DEFAULT_AUTOSCALING_CONFIG = "~/ray_bootstrap_config.yaml"


def autoscaler_max_resources(config_path: str | None = None) -> dict[str, float] | None:
    """The most of each resource the cluster's autoscaler can bring up, or None if unknown.

    Read from the cluster config the autoscaler publishes to Ray (KubeRay, autoscaler
    v2), else from the autoscaling config file on this node: ``config_path``, the
    ``MTREC_AUTOSCALING_CONFIG`` environment variable, or ``~/ray_bootstrap_config.yaml``
    (where ``ray up`` puts it on the head, which is where ``ray job submit`` runs the
    driver). Each node type counts ``max_workers`` times its ``resources`` (the head
    type once); ``ray up`` has already filled in the CPUs and GPUs of known instance
    types there.
    """
    if config_path is None:
        try:
            from ray._private.state import state

            published = state.get_max_resources_from_cluster_config()
        except Exception:  # private API; absent or not connected: fall back to the file
            published = None
        if published:
            return {k: float(v) for k, v in published.items()}
        config_path = os.environ.get(AUTOSCALING_CONFIG_ENV, DEFAULT_AUTOSCALING_CONFIG)
    path = os.path.expanduser(config_path)
    if not os.path.isfile(path):
        return None
    import yaml

    try:
        with open(path) as f:
            config = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the autoscaling config {path}: {exc}") from exc
    node_types = config.get("available_node_types") or {}
    head = config.get("head_node_type")
    total: dict[str, float] = {}
    for name, node_type in node_types.items():
        count = 1 if name == head else int(node_type.get("max_workers", config.get("max_workers", 0)))
        for key, value in (node_type.get("resources") or {}).items():
            total[key] = total.get(key, 0.0) + count * float(value)
    return total


def require_gpus(n_gpus: float, *, what: str) -> None:
    """Fail fast when ``use_gpu`` is asked but the cluster has no GPU and cannot scale to one.

    A cluster short of GPUs passes when its autoscaler can add enough of them (see
    :func:`autoscaler_max_resources`); the request then waits for GPU nodes. Where the
    autoscaler's limits cannot be read, ``MTREC_ALLOW_GPU_AUTOSCALE=1`` skips the check.
    """
    if n_gpus <= 0 or os.environ.get("MTREC_ALLOW_GPU_AUTOSCALE") == "1":
        return
    have = cluster_resources().get("GPU", 0.0)
    if have >= n_gpus:
        return
    reachable = autoscaler_max_resources()
    if reachable is not None and reachable.get("GPU", 0.0) >= n_gpus:
        console_print(f"mtrec: {what} needs {n_gpus:g} GPU(s); the cluster has {have:g} now and "
                      f"its autoscaler can add up to {reachable['GPU']:g}: waiting for GPU nodes")
        return
    scaling = ("" if reachable is None
               else f" and its autoscaler can bring up at most {reachable.get('GPU', 0.0):g}")
    raise ConfigError(
        f"{what} asks for {n_gpus:g} GPU(s) (use_gpu=true) but the Ray cluster has {have:g}"
        f"{scaling}. Set use_gpu=false to train on CPU, use fewer learner workers, or connect "
        "to a cluster with GPU nodes (--address auto). If your cluster autoscales GPU "
        "workers in a way mtrec cannot read, export MTREC_ALLOW_GPU_AUTOSCALE=1."
    )

"""Shared fixtures: one local Ray per test session, small threads, the ML-100K path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Ray starts its workers at nice 15 so that its own daemons stay responsive. On a
# shared 2-core CI runner that starves every actor and task (about 3% of a core each)
# whenever another process keeps the cores busy: the two-node job test went from
# 40 s to past 7 min. The raylets this session starts read this and spawn workers
# at the normal priority.
os.environ.setdefault("RAY_worker_niceness", "0")

REPO_ROOT = Path(__file__).resolve().parents[1]
ML100K_DIR = REPO_ROOT.parent / "shared" / "data" / "ml-100k"


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass


@pytest.fixture(scope="session")
def ray_session():
    """Start Ray once for the whole test session (2 CPUs, no dashboard)."""
    import ray

    if not ray.is_initialized():
        ray.init(
            address="local",  # our own Ray, never a cluster another process started
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled"}},
        )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    """Path to MovieLens-100K; skips with the reason when the shared copy is absent."""
    if not (ML100K_DIR / "u.data").exists():
        pytest.skip(f"MovieLens-100K not found at {ML100K_DIR} (licence forbids bundling it)")
    return ML100K_DIR

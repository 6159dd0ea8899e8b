"""Shared fixtures: one local Ray per test session, small threads, the ML-100K path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("OMP_NUM_THREADS", "1")

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

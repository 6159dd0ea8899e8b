"""Small shared builders for the simulator tests (a tiny world and a simulator fitted on it)."""

from __future__ import annotations

from pathlib import Path

from envs.ground_truth_world import generate_logs, save_world_logs, world_config
from envs.user_session import SimulatorFitConfig, fit_simulator

TINY_FIT = SimulatorFitConfig(epochs=2, hidden=16, embed_dim=8, history_len=10, holdout_fraction=0.2)


def tiny_world(root: Path, *, n_users: int = 300, days: float = 2.0, seed: int = 0) -> Path:
    """A small default-preset world directory (logs + ground truth)."""
    out = root / "world"
    if not (out / "logs.parquet").exists():
        wl = generate_logs(world_config("default", n_users=n_users, horizon_days=days), seed=seed)
        save_world_logs(wl, out)
    return out


def tiny_sim(root: Path, world_dir: Path) -> Path:
    """A simulator artifact fitted on ``world_dir`` with a 20% user hold-out."""
    out = root / "sim"
    if not (out / "simulator.json").exists():
        fit_simulator(world_dir, out, TINY_FIT)
    return out

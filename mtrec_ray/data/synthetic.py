"""Synthetic raw logs in the KuaiRand layout, for benchmarks and tests of the ingest path.

These are *raw source files* (not the ground-truth world, which lives in ``envs/``):
random users and items with bursty per-user activity, written in global time order the
way a platform exports logs. They exercise parsing, validation, sessionisation and
splitting at scale without any download.

How to run::

    python -m mtrec_ray.data.synthetic 1000000 /tmp/log_1m.csv

What you should see: the CSV path, its row count and the seconds the full ingest took.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def synthetic_kuairand(
    n_events: int, *, n_users: int | None = None, n_items: int | None = None, seed: int = 0
) -> pd.DataFrame:
    """A KuaiRand-style raw log of ``n_events`` rows (columns as in KuaiRand's CSVs).

    Args:
        n_events: rows to generate.
        n_users: distinct users (default ``n_events // 100``, at least 1).
        n_items: distinct videos (default ``n_events // 20``, at least 1).
        seed: random seed.
    """
    rng = np.random.default_rng(seed)
    n_users = n_users or max(1, n_events // 100)
    n_items = n_items or max(1, n_events // 20)
    user = np.sort(rng.integers(0, n_users, n_events))
    # Bursty activity: mostly 5-60 s between events, sometimes a break of hours.
    gap = rng.exponential(25.0, n_events) + 5.0
    breaks = rng.random(n_events) < 0.05
    gap[breaks] += rng.exponential(6 * 3600.0, int(breaks.sum()))
    first = np.ones(n_events, dtype=bool)
    first[1:] = user[1:] != user[:-1]
    start = 1_649_376_000_000 + rng.integers(0, 86_400_000, n_users)  # 2022-04-08
    elapsed = np.cumsum(gap * 1000.0)
    base = np.maximum.accumulate(np.where(first, np.arange(n_events), 0))
    time_ms = (start[user] + (elapsed - elapsed[base])).astype(np.int64)
    duration_ms = rng.integers(5_000, 300_000, n_items)
    video = (rng.zipf(1.3, n_events) - 1) % n_items
    click = (rng.random(n_events) < 0.35).astype(np.int8)
    frac = np.clip(rng.beta(1.2, 2.0, n_events) * 1.3, 0, None)
    play_ms = (click * frac * duration_ms[video]).astype(np.int64)
    out = pd.DataFrame({
        "user_id": user,
        "video_id": video,
        "time_ms": time_ms,
        "is_click": click,
        "is_like": (click & (rng.random(n_events) < 0.05)).astype(np.int8),
        "is_follow": (click & (rng.random(n_events) < 0.005)).astype(np.int8),
        "is_comment": (click & (rng.random(n_events) < 0.01)).astype(np.int8),
        "is_forward": (click & (rng.random(n_events) < 0.005)).astype(np.int8),
        "is_hate": (rng.random(n_events) < 0.002).astype(np.int8),
        "long_view": (frac > 0.5).astype(np.int8) * click,
        "play_time_ms": play_ms,
        "duration_ms": duration_ms[video],
    })
    return out.sort_values("time_ms", kind="stable").reset_index(drop=True)


def write_synthetic_csv(path: str | Path, n_events: int, *, seed: int = 0) -> Path:
    """Write ``synthetic_kuairand(n_events)`` as CSV at ``path``; returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    synthetic_kuairand(n_events, seed=seed).to_csv(p, index=False)
    return p


def main(argv: list[str] | None = None) -> int:
    """Write a synthetic log and time its full ingest (see the module docstring)."""
    from mtrec_ray.data.dataset import ingest

    args = list(sys.argv[1:] if argv is None else argv)
    n = int(args[0]) if args else 1_000_000
    path = Path(args[1]) if len(args) > 1 else Path(tempfile.gettempdir()) / f"log_{n}.csv"
    write_synthetic_csv(path, n)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        ds = ingest("kuairand", path, Path(out) / "ds")
        dt = time.perf_counter() - t0
    print(f"{path}: {ds.metadata['counts']['events']} events, ingest {dt:.2f} s "
          f"({ds.metadata['counts']['events'] / dt:,.0f} events/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

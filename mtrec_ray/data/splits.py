"""Chronological splits without leakage.

* Leave-one-out per user (``leave_one_out``): in canonical event order (user, timestamp,
  ties in source order), a user's last event is ``test``, the second-last ``valid``, the
  rest ``train``. Users with fewer than ``min_events`` (default 3) events go entirely to
  ``train``: they cannot give a test target with a validation target and a history.
  Within a user, train timestamps <= valid timestamp <= test timestamp.
* Global time split (``time_split``): cut points at timestamp quantiles
  ``1 - valid_frac - test_frac`` and ``1 - test_frac``; an event at or before the first
  cut is ``train``, after it and at or before the second ``valid``, after that ``test``.
  Every train timestamp is <= the first cut < every valid timestamp <= the second cut <
  every test timestamp.

Splits are stored as categorical columns with categories ``train, valid, test``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtrec_ray.data.sessions import check_sorted
from mtrec_ray.errors import ConfigError

SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "test")
TRAIN, VALID, TEST = 0, 1, 2


def as_categorical(codes: np.ndarray) -> pd.Categorical:
    """int8 codes 0/1/2 -> categorical train/valid/test."""
    return pd.Categorical.from_codes(codes.astype(np.int8), categories=list(SPLIT_NAMES))


def leave_one_out(events: pd.DataFrame, *, min_events: int = 3) -> np.ndarray:
    """Leave-one-out split codes (0 train, 1 valid, 2 test) for canonical-order events."""
    if min_events < 3:
        raise ConfigError(f"min_events must be >= 3 (train, valid and test), got {min_events}")
    check_sorted(events)
    u = events["user_id"].to_numpy()
    n = len(u)
    codes = np.zeros(n, dtype=np.int8)
    if n == 0:
        return codes
    new = np.empty(n, dtype=bool)
    new[0] = True
    new[1:] = u[1:] != u[:-1]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], n] - 1
    group = np.cumsum(new) - 1
    from_end = ends[group] - np.arange(n)
    big = (ends - starts + 1)[group] >= min_events
    codes[big & (from_end == 1)] = VALID
    codes[big & (from_end == 0)] = TEST
    return codes


def time_split(
    events: pd.DataFrame, *, valid_frac: float = 0.1, test_frac: float = 0.1
) -> tuple[np.ndarray, int, int]:
    """Global time split codes and the two cut timestamps.

    Returns:
        ``(codes, valid_cut, test_cut)``: train is ``t <= valid_cut``, valid is
        ``valid_cut < t <= test_cut``, test is ``t > test_cut``.
    """
    if valid_frac < 0 or test_frac < 0 or valid_frac + test_frac >= 1:
        raise ConfigError(
            f"valid_frac={valid_frac} and test_frac={test_frac} must be >= 0 with sum < 1"
        )
    t = events["timestamp"].to_numpy()
    if len(t) == 0:
        return np.zeros(0, dtype=np.int8), 0, 0
    valid_cut = int(np.quantile(t, 1.0 - valid_frac - test_frac, method="lower"))
    test_cut = int(np.quantile(t, 1.0 - test_frac, method="lower"))
    if test_frac == 0:
        test_cut = int(t.max())
    if valid_frac == 0:
        valid_cut = test_cut
    codes = np.zeros(len(t), dtype=np.int8)
    codes[t > valid_cut] = VALID
    codes[t > test_cut] = TEST
    return codes, valid_cut, test_cut


def split_sizes(codes: np.ndarray) -> dict[str, int]:
    """Number of events per split."""
    counts = np.bincount(codes.astype(np.int64), minlength=3)
    return {name: int(counts[i]) for i, name in enumerate(SPLIT_NAMES)}

"""Sessionisation: cut each user's event stream into sessions.

Events must be in canonical order (user, then timestamp, ties in source order; see
``schema.sort_events``). A new session starts at a user's first event and whenever the
gap to the user's previous event is *strictly greater* than ``gap_seconds``. Session ids
are global int64 ``0..n_sessions-1`` in event order, so sessions never span users.
Given session ids (from the source) are renumbered the same way: in order of first
appearance, per user.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from mtrec_ray.errors import ConfigError, DataError

SessionMode = Literal["auto", "gap", "given"]
SESSION_MODES: tuple[str, ...] = ("auto", "gap", "given")
DEFAULT_SESSION_GAP = 1800.0


def check_sorted(events: pd.DataFrame) -> None:
    """Raise DataError unless events are ordered by user, then timestamp."""
    u = events["user_id"].to_numpy()
    t = events["timestamp"].to_numpy()
    if len(u) < 2:
        return
    du = np.diff(u)
    bad = (du < 0) | ((du == 0) & (np.diff(t) < 0))
    if bad.any():
        i = int(np.argmax(bad)) + 1
        raise DataError(
            "events are not ordered by user, then timestamp; call schema.sort_events first",
            path="<events>", row=i + 1, column="timestamp" if du[i - 1] == 0 else "user_id",
        )


def gap_sessions(events: pd.DataFrame, *, gap_seconds: float = DEFAULT_SESSION_GAP) -> np.ndarray:
    """Session ids by inactivity gap (events in canonical order).

    Args:
        events: canonical events, sorted by user, timestamp.
        gap_seconds: a gap strictly longer than this starts a new session.

    Returns:
        int64 session ids, 0..n_sessions-1 in event order.
    """
    if not gap_seconds > 0:
        raise ConfigError(f"session gap must be > 0 seconds, got {gap_seconds}")
    check_sorted(events)
    n = len(events)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    u = events["user_id"].to_numpy()
    t = events["timestamp"].to_numpy()
    new = np.empty(n, dtype=bool)
    new[0] = True
    new[1:] = (u[1:] != u[:-1]) | ((t[1:] - t[:-1]) > gap_seconds)
    return np.cumsum(new, dtype=np.int64) - 1


def renumber_sessions(events: pd.DataFrame) -> np.ndarray:
    """Global session ids 0..n-1 in order of first appearance of each (user, session)."""
    key = events[["user_id", "session_id"]]
    return key.groupby(["user_id", "session_id"], sort=False).ngroup().to_numpy(np.int64)


def assign_sessions(
    events: pd.DataFrame,
    *,
    mode: SessionMode = "auto",
    gap_seconds: float = DEFAULT_SESSION_GAP,
    has_given: bool | None = None,
) -> tuple[pd.DataFrame, str]:
    """Return a copy of ``events`` with ``session_id`` filled, and the mode used.

    Args:
        events: canonical events in canonical order.
        mode: ``"given"`` keeps the source's sessions, ``"gap"`` cuts by inactivity,
            ``"auto"`` keeps given sessions when there are any, else cuts by gap.
        gap_seconds: inactivity gap for ``"gap"``.
        has_given: whether ``session_id`` holds given sessions (default: no -1 values).
    """
    if mode not in SESSION_MODES:
        raise ConfigError(f"sessions={mode!r} is unknown; use one of {SESSION_MODES}")
    if has_given is None:
        has_given = bool(len(events)) and bool((events["session_id"].to_numpy() >= 0).all())
    if mode == "given" and not has_given:
        raise ConfigError("sessions='given' but the source has no session column; map one "
                          "(session=<column>) or use sessions='gap'")
    used = "given" if (mode == "given" or (mode == "auto" and has_given)) else "gap"
    out = events.copy()
    if used == "given":
        check_sorted(out)
        out["session_id"] = renumber_sessions(out)
    else:
        out["session_id"] = gap_sessions(out, gap_seconds=gap_seconds)
    return out, used


def session_ends(events: pd.DataFrame) -> np.ndarray:
    """Boolean mask: the event is the last of its session (in event order)."""
    s = events["session_id"].to_numpy()
    n = len(s)
    done = np.zeros(n, dtype=bool)
    if n:
        _, first_rev = np.unique(s[::-1], return_index=True)
        done[n - 1 - first_rev] = True
    return done

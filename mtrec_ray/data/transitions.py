"""Transitions for inverse RL: (history state, shown item, response, next state, done).

One transition per event of the canonical table. The *state* before event ``i`` is the
user's last ``history_len`` **consumed** events before ``i`` (``click == 1`` when the log
has a click column, every event otherwise), oldest first and left-padded with
``pad_id`` (default -1), together with per-event response features of those history
events (default: ``watch_ratio`` when present; 0 at padding). History runs across the
user's sessions by default (``cross_session=True``); with ``cross_session=False`` it
restarts at each session. The *next state* is the state after event ``i``: the same
window with event ``i`` appended when it was consumed. ``done`` is True on the last event
of a session (the user left after it).

Vectorised: with ``c`` the consumed flags in group order (user, or session), the number
of consumed events before row ``i`` is ``p_i = cumsum(c)_i - c_i`` and within the group
``k_i = p_i - p_{group start}``. The history window is the slice
``consumed[p_i - min(k_i, L) : p_i]`` of the consumed-event arrays, gathered for all
rows at once with fancy indexing (``p_i - L + arange(L)``, masked where ``< p_i - k_i``);
the next state uses ``p_i + c_i`` and ``k_i + c_i``. Rows are processed in chunks to
bound memory. Output dtypes are compact: int32 ids, float32 features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from mtrec_ray.data.schema import LABEL_PREFIX
from mtrec_ray.data.sessions import check_sorted, session_ends
from mtrec_ray.errors import ConfigError

PAD_ID = -1
_CHUNK_ROWS = 1 << 18


@dataclass(frozen=True, kw_only=True)
class Transitions:
    """Arrays of N transitions (row ``j`` of every array is one transition)."""

    history_items: np.ndarray
    """int32 [N, L]: consumed items before the event, oldest first, left-padded."""
    history_features: np.ndarray
    """float32 [N, L, F]: response features of those history events (0 at padding)."""
    history_len: np.ndarray
    """int32 [N]: number of real (non-pad) history entries, <= L."""
    item: np.ndarray
    """int32 [N]: the item shown at this event."""
    consumed: np.ndarray
    """bool [N]: the event was consumed (clicked; always True without a click column)."""
    next_history_items: np.ndarray
    """int32 [N, L]: the history after this event."""
    next_history_features: np.ndarray
    """float32 [N, L, F]: response features of the next history."""
    next_history_len: np.ndarray
    """int32 [N]."""
    done: np.ndarray
    """bool [N]: the session ended after this event."""
    user_id: np.ndarray
    """int32 [N]."""
    session_id: np.ndarray
    """int32 [N]."""
    event_index: np.ndarray
    """int64 [N]: row of the event in the events table."""
    click: np.ndarray | None = None
    """int8 [N] or None without a click column."""
    watch_ratio: np.ndarray | None = None
    """float32 [N] or None."""
    position: np.ndarray | None = None
    """int32 [N] or None: 0-based slate position."""
    duration: np.ndarray | None = None
    """float32 [N] or None: item duration in seconds."""
    feature_names: tuple[str, ...] = ()
    """Names of the F history features."""
    pad_id: int = PAD_ID
    """Item id used for padding."""

    def __len__(self) -> int:
        return int(self.item.shape[0])

    @property
    def history_length(self) -> int:
        """Window length L."""
        return int(self.history_items.shape[1])

    def take(self, index: np.ndarray | Sequence[int]) -> Transitions:
        """Subset of the transitions (rows ``index`` or a boolean mask)."""
        idx = np.asarray(index)
        changes = {f.name: getattr(self, f.name)[idx] for f in fields(self)
                   if isinstance(getattr(self, f.name), np.ndarray)}
        return replace(self, **changes)

    def arrays(self) -> dict[str, Any]:
        """The non-None arrays by name (for ``np.savez`` or Ray's object store)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if isinstance(getattr(self, f.name), np.ndarray)}


def history_windows(
    cons_items: np.ndarray,
    cons_feats: np.ndarray,
    end: np.ndarray,
    avail: np.ndarray,
    length: int,
    pad_id: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-aligned windows ``cons[end - min(avail, L) : end]`` for every row at once.

    ``cons_items`` [C] and ``cons_feats`` [C, F] are the consumed events in group order
    (non-empty: append one pad row when there may be none); row ``i`` takes the
    ``min(avail_i, L)`` consumed events ending before position ``end_i``. Returns items
    [N, L] (``cons_items``' dtype, ``pad_id`` at padding), features [N, L, F] (0 at
    padding) and int32 lengths [N]. The one history gather of the code base: the
    per-event transitions here and the slate events of ``mtrec_ray.irl.data``.
    """
    offs = np.arange(-length, 0, dtype=np.int64)
    idx = end[:, None] + offs[None, :]
    valid = offs[None, :] >= -np.minimum(avail, length)[:, None]
    idx = np.where(valid, idx, 0)
    items = np.where(valid, cons_items[idx], cons_items.dtype.type(pad_id))
    feats = cons_feats[idx]
    feats[~valid] = 0.0
    return items, feats, np.minimum(avail, length).astype(np.int32)


def build_transitions(
    events: pd.DataFrame,
    *,
    history_len: int = 10,
    cross_session: bool = True,
    features: Sequence[str] | None = None,
    pad_id: int = PAD_ID,
    split: str | None = None,
    split_column: str = "split",
) -> Transitions:
    """Build one transition per event (or per event of one split).

    Args:
        events: canonical events in canonical order (user, timestamp, source order), with
            sessions assigned; the row position is the ``event_index``.
        history_len: window length L (>= 1).
        cross_session: history spans the user's earlier sessions (default) or restarts
            at each session.
        features: event columns used as history response features; default
            ``("watch_ratio",)`` when present, else none. ``label_*`` columns are refused.
        pad_id: item id for padding (must not be a real id; default -1).
        split: keep only transitions whose event is in this split (histories still use
            every earlier event of the user).
        split_column: the split column (``split`` for leave-one-out, ``split_time``).

    Returns:
        The transitions, in event order.
    """
    if history_len < 1:
        raise ConfigError(f"history_len must be >= 1, got {history_len}")
    if pad_id >= 0:
        raise ConfigError(f"pad_id must be negative so it never equals an item id, got {pad_id}")
    check_sorted(events)
    if features is None:
        features = ("watch_ratio",) if "watch_ratio" in events.columns else ()
    features = tuple(features)
    for name in features:
        if name.startswith(LABEL_PREFIX):
            raise ConfigError(f"feature {name!r} is an explicit label (evaluation only); "
                              "training code must not read label_* columns")
        if name not in events.columns:
            raise ConfigError(f"feature {name!r} is not a column of the events; "
                              f"columns: {list(events.columns)}")
    sessions = events["session_id"].to_numpy()
    if len(sessions) and sessions.min() < 0:
        raise ConfigError("events have no sessions (session_id -1); assign sessions first "
                          "(prepare_dataset or sessions.assign_sessions)")
    n = len(events)
    has_click = "click" in events.columns
    consumed_all = (events["click"].to_numpy() == 1) if has_click else np.ones(n, dtype=bool)
    items_all = events["item_id"].to_numpy()
    feats_all = (np.stack([events[f].to_numpy(dtype=np.float32) for f in features], axis=1)
                 if features else np.zeros((n, 0), dtype=np.float32))

    # Group order: users are contiguous already; sessions may interleave when given.
    if cross_session:
        perm = np.arange(n)
        group = events["user_id"].to_numpy()
    else:
        perm = np.argsort(sessions, kind="stable")
        group = sessions[perm]
    c = consumed_all[perm].astype(np.int64)
    before = np.cumsum(c) - c
    new = np.ones(n, dtype=bool)
    new[1:] = group[1:] != group[:-1]
    start = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    in_group = before - before[start]
    cons_rows = perm[np.flatnonzero(c)]
    cons_items = np.append(items_all[cons_rows].astype(np.int32), np.int32(pad_id))
    cons_feats = np.concatenate([feats_all[cons_rows], np.zeros((1, len(features)), np.float32)])

    # Per event row (original order): p, k, c.
    p = np.empty(n, dtype=np.int64)
    k = np.empty(n, dtype=np.int64)
    p[perm] = before
    k[perm] = in_group
    rows = np.arange(n)
    if split is not None:
        if split_column not in events.columns:
            raise ConfigError(f"no split column {split_column!r}; prepare the dataset first")
        rows = np.flatnonzero((events[split_column] == split).to_numpy())
    m = len(rows)
    cr = consumed_all[rows].astype(np.int64)
    L, F = history_len, len(features)
    h_items = np.empty((m, L), dtype=np.int32)
    n_items = np.empty((m, L), dtype=np.int32)
    h_feats = np.empty((m, L, F), dtype=np.float32)
    n_feats = np.empty((m, L, F), dtype=np.float32)
    h_len = np.empty(m, dtype=np.int32)
    n_len = np.empty(m, dtype=np.int32)
    for lo in range(0, m, _CHUNK_ROWS):
        hi = min(m, lo + _CHUNK_ROWS)
        pr, kr, cc = p[rows[lo:hi]], k[rows[lo:hi]], cr[lo:hi]
        h_items[lo:hi], h_feats[lo:hi], h_len[lo:hi] = history_windows(
            cons_items, cons_feats, pr, kr, L, pad_id)
        n_items[lo:hi], n_feats[lo:hi], n_len[lo:hi] = history_windows(
            cons_items, cons_feats, pr + cc, kr + cc, L, pad_id)

    if sessions.size and sessions.max() >= np.iinfo(np.int32).max:
        raise ConfigError("more than 2**31 sessions; int32 session ids overflow")

    def column(name: str, dtype: Any) -> np.ndarray | None:
        return events[name].to_numpy()[rows].astype(dtype) if name in events.columns else None

    return Transitions(
        history_items=h_items,
        history_features=h_feats,
        history_len=h_len,
        item=items_all[rows].astype(np.int32),
        consumed=consumed_all[rows],
        next_history_items=n_items,
        next_history_features=n_feats,
        next_history_len=n_len,
        done=session_ends(events)[rows],
        user_id=events["user_id"].to_numpy()[rows].astype(np.int32),
        session_id=sessions[rows].astype(np.int32),
        event_index=rows.astype(np.int64),
        click=column("click", np.int8),
        watch_ratio=column("watch_ratio", np.float32),
        position=column("position", np.int32),
        duration=column("duration", np.float32),
        feature_names=features,
        pad_id=pad_id,
    )

"""Engagement events: canonical logs -> the tensors QR-IQL and the baselines train on.

One *event* is one slate (exposure set) shown to a user, with what the user did next:

* which item it consumed (the clicked slate position, or none),
* how deeply it watched the consumed item (watch ratio, bucketised by quantiles of the
  training data into ``n_depth`` ordered actions; absent without watch data),
* whether it went on or left the session after the slate (``leave``: the last slate of
  its session),
* when the session ends, whether it came back within ``return_days``.

The state of an event is what a platform knows before showing the slate: the user's
last ``max_history`` consumed items with their responses (right-aligned, padded with
``n_items``), the items consumed earlier in the same session (for the mood), and
observable session features. Observable nuisances of each slate item (log duration,
position) are kept apart from the state and the item ids.

Logs without slates (MovieLens: every row is a consumption) become one-item slates
whose item is always consumed. Rows are ordered per user by timestamp with a stable
sort (``mtrec_ray.data.schema.sort_events``); ``label_*`` columns are never read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from mtrec_ray.data.schema import sort_events
from mtrec_ray.data.transitions import history_windows
from mtrec_ray.errors import DataError

SECONDS_PER_DAY = 86_400.0


@dataclass
class FeatureSpec:
    """Data-derived constants that map raw logs to features (stored with a model)."""

    n_items: int
    """Catalogue size; item ids are ``0..n_items-1`` and ``n_items`` is padding."""
    has_watch: bool
    """Whether the logs carry watch ratios (depth actions exist)."""
    has_slates: bool
    """Whether the logs carry slates with unclicked exposures."""
    depth_edges: list[float] = field(default_factory=list)
    """Inner edges of the watch-ratio buckets (``n_depth - 1`` values)."""
    log_duration_mean: float = 0.0
    """Mean of log duration over training exposures."""
    log_duration_std: float = 1.0
    """Std of log duration over training exposures."""
    max_history: int = 20
    """Consumed items kept in the state."""
    max_mood: int = 8
    """Earlier consumptions of the session kept for the mood."""
    return_days: float = 2.0
    """A session 'returns' if the user's next session starts within this many days."""
    pseudo_negatives: int = 0
    """Logs without slates: random items the user never consumed, added to each event as
    unchosen alternatives (a sampled choice set), 0 for none."""
    pseudo_seed: int = 0
    """Seed of the sampled alternatives."""

    @property
    def has_choices(self) -> bool:
        """Whether events carry alternatives to the consumed item (slates or sampled)."""
        return self.has_slates or self.pseudo_negatives > 0

    @property
    def n_depth(self) -> int:
        """Number of depth actions (0 without watch data)."""
        return len(self.depth_edges) + 1 if self.has_watch else 0

    @property
    def n_history_features(self) -> int:
        """Per-step response features of the history."""
        return 3 if self.has_watch else 1

    @property
    def n_nuisance(self) -> int:
        """Nuisance features per slate item: log duration, its square, log(1 + position)."""
        return 3

    @property
    def n_state_features(self) -> int:
        """Observable session features of the state."""
        return 4

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class EventTable:
    """One row per event (slate); numpy arrays, sliceable by row index."""

    user: np.ndarray
    """User id (E,)."""
    session: np.ndarray
    """Session id (E,)."""
    hist_items: np.ndarray
    """Last consumed items before the slate, right-aligned, padded with n_items (E, L)."""
    hist_feats: np.ndarray
    """Responses to those items (E, L, F)."""
    mood_items: np.ndarray
    """Items consumed earlier in the session, most recent last, padded (E, M)."""
    state_feats: np.ndarray
    """Observable session features (E, S)."""
    slate_items: np.ndarray
    """Items of the slate, padded with n_items (E, K)."""
    slate_nuis: np.ndarray
    """Nuisance features of the slate items (E, K, Z)."""
    slate_mask: np.ndarray
    """True for real slate items (E, K)."""
    clicked: np.ndarray
    """Consumed slate position, -1 for none (E,)."""
    item: np.ndarray
    """Consumed item, n_items for none (E,)."""
    nuis: np.ndarray
    """Nuisance features of the consumed item (E, Z); zeros without consumption."""
    watch_ratio: np.ndarray
    """Watch ratio of the consumed item (E,); 0 without."""
    watch_time: np.ndarray
    """Seconds watched (E,); 0 without."""
    depth: np.ndarray
    """Depth action of the consumed item, -1 when none or no watch data (E,)."""
    leave: np.ndarray
    """True when the session ended after this slate (E,)."""
    next_event: np.ndarray
    """Row of the next slate of the same session, -1 if the session ended (E,)."""
    returned: np.ndarray
    """For session-ending events: 1 came back within return_days, 0 not, -1 unknown (E,)."""

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def subset(self, rows: np.ndarray) -> EventTable:
        """Rows ``rows`` (``next_event`` re-indexed; links leaving the subset become -1)."""
        rows = np.asarray(rows, dtype=np.int64)
        remap = np.full(len(self) + 1, -1, dtype=np.int64)
        remap[rows] = np.arange(rows.size)
        out = {f.name: getattr(self, f.name)[rows] for f in fields(self)}
        out["next_event"] = remap[out["next_event"]]
        return EventTable(**out)


def _session_ends(sess: np.ndarray) -> np.ndarray:
    end = np.ones(sess.shape[0], dtype=bool)
    end[:-1] = sess[1:] != sess[:-1]
    return end


def _pseudo_slates(chosen: np.ndarray, user: np.ndarray, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chosen item first, then random items the user never consumed (no nuisances)."""
    n, k = spec.n_items, spec.pseudo_negatives
    rng = np.random.default_rng(spec.pseudo_seed)
    consumed = np.unique(user * n + chosen)
    neg = rng.integers(0, n, size=(chosen.size, k))
    for _ in range(20):
        bad = np.isin(user[:, None] * n + neg, consumed)
        if not bad.any():
            break
        neg[bad] = rng.integers(0, n, size=int(bad.sum()))
    items = np.concatenate([chosen[:, None], neg], axis=1).astype(np.int64)
    mask = np.ones(items.shape, dtype=bool)
    return items, mask, np.zeros(items.shape + (spec.n_nuisance,), dtype=np.float32)


def build_feature_spec(
    logs: pd.DataFrame,
    *,
    n_items: int,
    n_depth: int = 8,
    max_history: int = 20,
    max_mood: int = 8,
    return_days: float = 2.0,
    pseudo_negatives: int = 0,
    pseudo_seed: int = 0,
) -> FeatureSpec:
    """Fit the data-derived constants on (training) logs (see ``FeatureSpec``)."""
    has_watch = "watch_ratio" in logs.columns and bool((logs.get("click", 1) == 1).any())
    has_slates = "slate_id" in logs.columns and "click" in logs.columns
    if has_watch:
        clicked = logs["click"].to_numpy() == 1 if "click" in logs.columns else np.ones(len(logs), bool)
        wr = logs["watch_ratio"].to_numpy(dtype=np.float64)[clicked]
        if wr.size == 0:
            has_watch = False
    edges: list[float] = []
    if has_watch:
        qs = np.quantile(wr, np.linspace(0, 1, n_depth + 1)[1:-1])
        edges = [float(x) for x in np.unique(qs)]
    ld_mean, ld_std = 0.0, 1.0
    if "duration" in logs.columns:
        ld = np.log(np.maximum(logs["duration"].to_numpy(dtype=np.float64), 1e-3))
        ld_mean, ld_std = float(ld.mean()), float(max(ld.std(), 1e-6))
    return FeatureSpec(
        n_items=n_items, has_watch=has_watch, has_slates=has_slates, depth_edges=edges,
        log_duration_mean=ld_mean, log_duration_std=ld_std, max_history=max_history,
        max_mood=max_mood, return_days=return_days,
        pseudo_negatives=0 if has_slates else pseudo_negatives, pseudo_seed=pseudo_seed,
    )


def build_events(logs: pd.DataFrame, spec: FeatureSpec) -> EventTable:
    """Turn canonical logs into events (one per slate), using ``spec``'s constants.

    Args:
        logs: canonical interaction log (``label_*`` columns are ignored).
        spec: from ``build_feature_spec`` on the training logs.

    Raises:
        DataError: when a required column is missing or ids exceed the catalogue.
    """
    for col in ("user_id", "item_id", "timestamp", "session_id"):
        if col not in logs.columns:
            raise DataError(f"logs lack the required column {col!r}", column=col)
    cols = [c for c in logs.columns if not c.startswith("label_")]
    df = sort_events(logs[cols])
    n = spec.n_items
    if len(df) and (df["item_id"].max() >= n or df["item_id"].min() < 0):
        raise DataError(f"item ids must lie in [0, {n}) (the model's catalogue)", column="item_id")
    if spec.has_slates:
        slate_key = df["slate_id"].to_numpy(np.int64)
        # slates are contiguous after sorting by user and timestamp (positions are t + k)
        pos = df["position"].to_numpy(np.int64) if "position" in df.columns else None
    else:
        slate_key = np.arange(len(df), dtype=np.int64)
        pos = None
    new = np.ones(len(df), dtype=bool)
    new[1:] = slate_key[1:] != slate_key[:-1]
    slate_idx = np.cumsum(new) - 1
    n_ev = int(slate_idx[-1] + 1) if len(df) else 0
    first = np.flatnonzero(new)
    k_in = np.arange(len(df)) - first[slate_idx]
    k_max = int(k_in.max() + 1) if len(df) else 1
    if pos is None:
        pos = k_in

    item = df["item_id"].to_numpy(np.int64)
    click = (df["click"].to_numpy() == 1) if "click" in df.columns else np.ones(len(df), dtype=bool)
    if not spec.has_slates:
        click = np.ones(len(df), dtype=bool)
    dur = df["duration"].to_numpy(np.float64) if "duration" in df.columns else None
    nuis_rows = np.zeros((len(df), spec.n_nuisance), dtype=np.float32)
    if dur is not None:
        ld = (np.log(np.maximum(dur, 1e-3)) - spec.log_duration_mean) / spec.log_duration_std
        nuis_rows[:, 0] = ld
        nuis_rows[:, 1] = ld**2 - 1.0
    nuis_rows[:, 2] = np.log1p(pos)

    slate_items = np.full((n_ev, k_max), n, dtype=np.int64)
    slate_items[slate_idx, k_in] = item
    slate_mask = np.zeros((n_ev, k_max), dtype=bool)
    slate_mask[slate_idx, k_in] = True
    slate_nuis = np.zeros((n_ev, k_max, spec.n_nuisance), dtype=np.float32)
    slate_nuis[slate_idx, k_in] = nuis_rows

    user = df["user_id"].to_numpy(np.int64)[first]
    if not spec.has_slates and spec.pseudo_negatives > 0 and n_ev:
        slate_items, slate_mask, slate_nuis = _pseudo_slates(item[first], user, spec)
    raw_session = df["session_id"].to_numpy(np.int64)[first]
    # contiguous session index in sorted order (a session never spans users)
    new_sess = np.ones(n_ev, dtype=bool)
    new_sess[1:] = (raw_session[1:] != raw_session[:-1]) | (user[1:] != user[:-1])
    session = np.cumsum(new_sess) - 1
    ts = df["timestamp"].to_numpy(np.int64)
    clicked = np.full(n_ev, -1, dtype=np.int64)
    ev_item = np.full(n_ev, n, dtype=np.int64)
    ev_nuis = np.zeros((n_ev, spec.n_nuisance), dtype=np.float32)
    wr = np.zeros(n_ev)
    wt = np.zeros(n_ev)
    crow = np.flatnonzero(click)
    # one consumption per slate: keep the first click of a slate
    crow = crow[np.concatenate([[True], slate_idx[crow][1:] != slate_idx[crow][:-1]])] if crow.size else crow
    ce = slate_idx[crow]
    clicked[ce] = k_in[crow]
    ev_item[ce] = item[crow]
    ev_nuis[ce] = nuis_rows[crow]
    if spec.has_watch and "watch_ratio" in df.columns:
        wr[ce] = df["watch_ratio"].to_numpy(np.float64)[crow]
    if "watch_time" in df.columns:
        wt[ce] = df["watch_time"].to_numpy(np.float64)[crow]
    depth = np.full(n_ev, -1, dtype=np.int64)
    if spec.has_watch:
        depth[ce] = np.searchsorted(np.asarray(spec.depth_edges), wr[ce], side="right")

    # sessions: leave / next event / return
    leave = _session_ends(session) if n_ev else np.zeros(0, dtype=bool)
    next_event = np.where(leave, -1, np.arange(n_ev) + 1)
    start_ts = ts[first]
    end_ts = np.zeros(n_ev, dtype=np.int64)
    last_row = np.concatenate([first[1:] - 1, [len(df) - 1]]) if n_ev else first
    end_ts[:] = ts[last_row]
    returned = np.full(n_ev, -1, dtype=np.int64)
    ends = np.flatnonzero(leave)
    if ends.size:
        nxt = ends + 1
        same_user = np.zeros(ends.size, dtype=bool)
        ok = nxt < n_ev
        same_user[ok] = user[nxt[ok]] == user[ends[ok]]
        gap = np.where(same_user, start_ts[np.minimum(nxt, n_ev - 1)] - end_ts[ends], np.inf)
        horizon = np.zeros(n_ev)
        # per-user last timestamp bounds what we can know about returns
        user_last = pd.Series(end_ts).groupby(user).transform("max").to_numpy()
        horizon[ends] = user_last[ends]
        came_back = gap <= spec.return_days * SECONDS_PER_DAY
        known = came_back | (horizon[ends] - end_ts[ends] > spec.return_days * SECONDS_PER_DAY)
        returned[ends] = np.where(known, came_back.astype(np.int64), -1)

    # history: last L consumptions of the user before each slate; mood: the earlier
    # consumptions of the same session (a pad row keeps the gathers defined without any)
    cons_ev = np.flatnonzero(clicked >= 0)  # events with a consumption, ordered by user/time
    n_cons_before = np.searchsorted(cons_ev, np.arange(n_ev), side="left")
    user_first_cons = np.searchsorted(user[cons_ev], user, side="left")
    hf = np.zeros((cons_ev.size + 1, spec.n_history_features), dtype=np.float32)
    if cons_ev.size:
        if spec.has_watch:
            r = np.clip(wr[cons_ev], 1e-3, 1 - 1e-3)
            hf[:-1, 0] = wr[cons_ev]
            hf[:-1, 1] = np.log(r / (1 - r)) / 4.0
            hf[:-1, 2] = ev_nuis[cons_ev, 0]
        else:
            hf[:-1, 0] = 1.0
    cons_items = np.append(ev_item[cons_ev], n)
    hist_items, hist_feats, _ = history_windows(
        cons_items, hf, n_cons_before, n_cons_before - user_first_cons, spec.max_history, n)
    sess_first_cons = np.searchsorted(session[cons_ev], session, side="left")
    mood_items, _, _ = history_windows(
        cons_items, np.zeros((cons_items.size, 0), np.float32), n_cons_before,
        n_cons_before - np.maximum(sess_first_cons, user_first_cons), spec.max_mood, n)

    # observable session features
    sess_start = np.searchsorted(session, session, side="left")
    step = np.arange(n_ev) - sess_start
    noclick = (clicked < 0).astype(np.float64)
    cum_noclick = np.cumsum(noclick) - noclick
    noclick_before = cum_noclick - cum_noclick[sess_start]
    user_start = np.searchsorted(user, user, side="left")
    sess_rank = pd.Series(session).groupby(user).rank(method="dense").to_numpy() - 1
    prev_slates = (sess_start - user_start).astype(np.float64)
    state_feats = np.stack(
        [
            np.log1p(step),
            noclick_before / np.maximum(step, 1),
            np.log1p(sess_rank),
            np.log1p(prev_slates / np.maximum(sess_rank, 1)),
        ],
        axis=1,
    ).astype(np.float32)

    return EventTable(
        user=user, session=session, hist_items=hist_items, hist_feats=hist_feats,
        mood_items=mood_items, state_feats=state_feats, slate_items=slate_items,
        slate_nuis=slate_nuis, slate_mask=slate_mask, clicked=clicked, item=ev_item,
        nuis=ev_nuis, watch_ratio=wr, watch_time=wt, depth=depth, leave=leave,
        next_event=next_event, returned=returned,
    )


def to_tensors(events: EventTable, device: torch.device | str = "cpu") -> dict[str, Tensor]:
    """All event arrays as tensors (float32 / int64 / bool) on ``device``."""
    out: dict[str, Tensor] = {}
    for f in fields(events):
        arr = getattr(events, f.name)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        out[f.name] = torch.as_tensor(arr, device=device)
    return out


def index_batch(tensors: dict[str, Tensor], rows: Tensor) -> dict[str, Tensor]:
    """Rows ``rows`` of every tensor (plus ``rows`` itself under ``row``)."""
    batch = {k: v[rows] for k, v in tensors.items()}
    batch["row"] = rows
    return batch


def split_users(
    user_ids: np.ndarray, *, seed: int, valid_frac: float = 0.1, test_frac: float = 0.2
) -> dict[str, np.ndarray]:
    """Deterministic user split: {"train", "valid", "test"} arrays of user ids."""
    users = np.unique(user_ids)
    perm = np.random.default_rng(seed).permutation(users)
    n_test = int(math.floor(test_frac * users.size))
    n_valid = int(math.floor(valid_frac * users.size))
    return {
        "test": np.sort(perm[:n_test]),
        "valid": np.sort(perm[n_test : n_test + n_valid]),
        "train": np.sort(perm[n_test + n_valid :]),
    }

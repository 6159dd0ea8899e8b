"""Sequences of consumed items per user, leave-one-out splits and training windows.

From the canonical interaction table (``mtrec_ray.data.schema``):

- **Consumed events**: rows with ``click == 1`` when a ``click`` column exists, every row
  otherwise (MovieLens: every rating is a consumption).
- **Order**: per user by timestamp with a stable sort, so ties keep the table's row order
  (``schema.sort_events``); loaders deliver rows in source order.
- **Leave-one-out** over the consumed events, by the project's one rule
  (``mtrec_ray.data.splits.leave_one_out``): for a user with at least 3 consumed events,
  the last one is the test target and the second-last the validation target; the rest
  is training. Users with fewer events contribute only training targets and are not
  evaluated. (With a ``click`` column this differs from the dataset's own ``split``
  column, which is over all exposures: a recommender's targets are consumptions.)
- **Training targets**: every training event except the user's first (it has no history),
  i.e. the SASRec objective "predict item t+1 from items 1..t" at every position.
- **Windows**: a training sequence longer than ``max_len`` is cut, from its end, into
  consecutive windows of at most ``max_len`` targets, so every target is used exactly once
  per epoch (the first target of an earlier-cut window sees only the items inside it).

Padded id matrices are right-aligned (most recent last) and padded on the left with the
padding id ``n_items``. ``label_*`` columns are copied only into ``SplitData.labels`` for
evaluation; nothing on the training path reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mtrec_ray.data.schema import LABEL_PREFIX, sort_events
from mtrec_ray.data.splits import TEST, TRAIN, VALID, leave_one_out
from mtrec_ray.errors import DataError


@dataclass
class SplitData:
    """The validation or test targets of every evaluable user."""

    histories: np.ndarray
    """int64 ``(U, max_len)``: right-aligned history before the target, padding ``n_items``."""
    targets: np.ndarray
    """int64 ``(U,)``: target item ids."""
    rows: np.ndarray
    """int64 ``(U,)``: index of the user's sequence in ``SeqData.sequences``."""
    positions: np.ndarray
    """int64 ``(U,)``: index of the target inside its sequence (= full history length)."""
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    """Evaluation only: explicit labels of the targets, keyed without ``label_``."""


@dataclass
class TrainWindows:
    """Training windows: inputs and next-item targets, one row per window."""

    inputs: np.ndarray
    """int64 ``(W, max_len)``: right-aligned input items, padding ``n_items``."""
    targets: np.ndarray
    """int64 ``(W, max_len)``: the next item at each input position, padding ``n_items``."""
    target_index: np.ndarray
    """int64 ``(W, max_len)``: index of each target in the flat training-target order, -1 on padding."""


@dataclass
class SeqData:
    """Chronological consumed-item sequences of every user and their leave-one-out splits."""

    n_items: int
    """Catalogue size; item ids are ``0..n_items-1``, ``n_items`` is padding."""
    max_len: int
    """Longest history a model reads."""
    user_ids: np.ndarray
    """int64 ``(S,)``: the user of each sequence."""
    sequences: list[np.ndarray]
    """Consumed item ids per user, oldest first."""
    watch_ratios: list[np.ndarray]
    """Watch ratio of each consumed event (1.0 where the log has none)."""
    train_lengths: np.ndarray
    """int64 ``(S,)``: leading training events of each sequence (the rest: valid, test)."""
    labels: dict[str, list[np.ndarray]] = field(default_factory=dict)
    """Evaluation only: ``label_*`` values per event, keyed without the prefix."""

    @property
    def padding_id(self) -> int:
        """The padding item id (``n_items``)."""
        return self.n_items

    def train_length(self, row: int) -> int:
        """Number of training events of sequence ``row``."""
        return int(self.train_lengths[row])

    def n_train_targets(self) -> int:
        """Total training targets (every training event but each user's first)."""
        return int(sum(max(self.train_length(i) - 1, 0) for i in range(len(self.sequences))))

    def split(self, split: str) -> SplitData:
        """Histories and targets of ``valid`` or ``test`` for every evaluable user."""
        if split not in ("valid", "test"):
            raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
        offset = 2 if split == "valid" else 1
        rows = np.flatnonzero(self.train_lengths < np.array([len(q) for q in self.sequences])).astype(np.int64)
        positions = np.array([len(self.sequences[i]) - offset for i in rows], dtype=np.int64)
        targets = np.array([self.sequences[i][p] for i, p in zip(rows, positions, strict=True)], dtype=np.int64)
        hist = right_align([self.sequences[i][:p] for i, p in zip(rows, positions, strict=True)], self.max_len, self.n_items)
        labels = {
            name: np.array([vals[i][p] for i, p in zip(rows, positions, strict=True)])
            for name, vals in self.labels.items()
        }
        return SplitData(histories=hist, targets=targets, rows=rows, positions=positions, labels=labels)

    def train_windows(self) -> TrainWindows:
        """Cut every training sequence into windows (see the module docstring)."""
        L = self.max_len
        inputs, targets, index = [], [], []
        flat = 0
        for row in range(len(self.sequences)):
            n = self.train_length(row)
            seq = self.sequences[row][:n]
            end = n
            starts = []
            while end > 1:
                start = max(1, end - L)
                starts.append((start, end))
                end = start
            for start, end in reversed(starts):
                inputs.append(seq[start - 1 : end - 1])
                targets.append(seq[start:end])
                index.append(np.arange(flat + start - 1, flat + end - 1, dtype=np.int64))
            flat += max(n - 1, 0)
        return TrainWindows(
            inputs=right_align(inputs, L, self.n_items),
            targets=right_align(targets, L, self.n_items),
            target_index=right_align(index, L, -1),
        )

    def train_states(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every training target with its full preceding state, in the flat target order.

        Returns:
            ``(items (N, max_len), watch_ratios (N, max_len), targets (N,))``: the right-
            aligned history (padding ``n_items``, watch ratio 0) before each target.
        """
        L = self.max_len
        items, ratios, targets = [], [], []
        for row in range(len(self.sequences)):
            n = self.train_length(row)
            if n < 2:
                continue
            seq, wr = self.sequences[row][:n], self.watch_ratios[row][:n]
            padded = np.concatenate([np.full(L, self.n_items, np.int64), seq])
            padded_wr = np.concatenate([np.zeros(L, np.float32), wr.astype(np.float32)])
            win = np.lib.stride_tricks.sliding_window_view(padded, L)
            win_wr = np.lib.stride_tricks.sliding_window_view(padded_wr, L)
            # window j covers padded[j : j + L] = the L items before seq[j]
            items.append(win[1:n])
            ratios.append(win_wr[1:n])
            targets.append(seq[1:n])
        if not items:
            return np.zeros((0, L), np.int64), np.zeros((0, L), np.float32), np.zeros(0, np.int64)
        return np.concatenate(items), np.concatenate(ratios), np.concatenate(targets)


def right_align(seqs: list[np.ndarray], length: int, pad: int) -> np.ndarray:
    """Stack the last ``length`` values of each sequence, left-padded with ``pad``."""
    out = np.full((len(seqs), length), pad, dtype=np.int64)
    for i, s in enumerate(seqs):
        tail = np.asarray(s)[-length:] if length else np.zeros(0)
        if len(tail):
            out[i, length - len(tail) :] = tail
    return out


def _events_frame(source: Any) -> tuple[pd.DataFrame, int | None]:
    """The events table and catalogue size of a DataFrame or a loaded-dataset object."""
    if isinstance(source, pd.DataFrame):
        return source, None
    events = getattr(source, "events", None)
    if isinstance(events, pd.DataFrame):
        n_items = getattr(source, "n_items", None)
        return events, int(n_items) if n_items is not None else None
    raise DataError(
        f"expected a canonical events DataFrame or a dataset with an .events DataFrame, got {type(source).__name__}"
    )


def build_sequences(source: Any, *, max_len: int = 50, n_items: int | None = None) -> SeqData:
    """Build per-user consumed-item sequences from canonical events.

    Args:
        source: the canonical events ``DataFrame`` (``mtrec_ray.data.schema``) or a
            loaded dataset exposing ``.events`` (and optionally ``.n_items``).
        max_len: longest history a model reads.
        n_items: catalogue size (default: the dataset's, else ``max(item_id) + 1``).

    Raises:
        DataError: missing columns, negative ids, or no consumed events.
    """
    events, ds_items = _events_frame(source)
    missing = [c for c in ("user_id", "item_id", "timestamp") if c not in events.columns]
    if missing:
        raise DataError(f"events lack the canonical column(s) {missing}; see mtrec_ray.data.schema")
    df = events
    if "click" in df.columns:
        df = df[df["click"].to_numpy() == 1]
    if df.empty:
        raise DataError("no consumed events (click == 1) to build sequences from")
    df = sort_events(df)
    codes = leave_one_out(df)
    users = df["user_id"].to_numpy(np.int64)
    items = df["item_id"].to_numpy(np.int64)
    if items.min() < 0 or users.min() < 0:
        raise DataError("user_id and item_id must be dense non-negative indices")
    n = n_items if n_items is not None else ds_items if ds_items is not None else int(items.max()) + 1
    if items.max() >= n:
        raise DataError(f"item id {int(items.max())} is outside the catalogue of {n} items")
    ratios = (
        df["watch_ratio"].to_numpy(np.float32) if "watch_ratio" in df.columns else np.ones(len(df), np.float32)
    )
    bounds = np.flatnonzero(np.diff(users)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(users)]])
    n_train = np.add.reduceat((codes == TRAIN).astype(np.int64), starts)
    n_valid = np.add.reduceat((codes == VALID).astype(np.int64), starts)
    n_test = np.add.reduceat((codes == TEST).astype(np.int64), starts)
    if not ((n_valid == n_test) & (n_valid <= 1)).all():  # pragma: no cover - leave_one_out's contract
        raise DataError("leave-one-out must give each user at most one valid and one test event")
    label_cols = [c for c in df.columns if c.startswith(LABEL_PREFIX)]
    labels = {
        c[len(LABEL_PREFIX) :]: [df[c].to_numpy()[s:e] for s, e in zip(starts, ends, strict=True)]
        for c in label_cols
    }
    return SeqData(
        n_items=int(n),
        max_len=int(max_len),
        user_ids=users[starts],
        sequences=[items[s:e] for s, e in zip(starts, ends, strict=True)],
        watch_ratios=[ratios[s:e] for s, e in zip(starts, ends, strict=True)],
        train_lengths=n_train,
        labels=labels,
    )

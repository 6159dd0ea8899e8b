"""User-session simulator fitted from logs: the user response model and ``UserSessionEnv``.

The user response model is learned from a canonical interaction log (any data set the
data layer prepares: ground-truth-world logs, KuaiRand-style exposure logs, MovieLens).
It has item embeddings ``E``, a history encoder, and three heads:

- **state**: the last ``H`` consumed items, pooled twice (recency-weighted and
  watch-ratio-weighted means of their embeddings), plus session statistics (position
  in the session, session CTR so far, recent watch ratios), through ``tanh(W x + b)``
  into ``h``;
- **click** (a choice among the slate or none, like the logs' users make)::

      score_k = (W_q h + b_q) . E[i_k] + b[i_k] + p[k] + w_d * ldur[i_k]
      score_none = w_0 . h + b_0
      P(click k | h, slate) = softmax([score_1..K, score_none])_k

- **watch ratio** of the clicked item: a categorical distribution over ``n_bins``
  equal bins on ``[0, max_watch_ratio]`` from ``MLP([h, E[i], ldur[i]])`` (sampled as a
  bin then uniformly within it, so any shape, point masses and long tails included);
- **leave** after the slate: ``sigmoid(MLP([h, stats, click * E[i], click,
  click * watch_ratio, click * ldur[i]]))``.

``ldur`` is the item's log duration (an observable nuisance kept out of the state).
Data sets without exposures (every logged event consumed, e.g. MovieLens) are fitted as
a choice among the consumed item and ``negatives`` random items placed at random
positions. Training: cross-entropy (click, watch bins) plus binary cross-entropy
(leave), Adam, early stopping on users held out for validation. Inference runs in numpy
over a batch of users (no torch per step).

Artifact (``save``/``load``): ``weights.pt`` (a dict of tensors, loaded with
``torch.load(weights_only=True)``: no arbitrary unpickling) and ``simulator.json``
(format version, config, catalogue size, dataset fingerprint, raw item ids, fit
metrics). Loading refuses another format version, a missing or inconsistent weight,
or (when asked) a different dataset fingerprint, with an ``ArtifactError``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import pandas as pd
import torch
from torch import nn

from mtrec_ray.config import from_dict, to_dict
from mtrec_ray.data.schema import label_columns, sort_events
from mtrec_ray.errors import ArtifactError, ConfigError, DataError
from mtrec_ray.recommenders import PAD, Histories
from mtrec_ray.rl.rewards import RewardContext, RewardFunction, resolve_reward

FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.pt"
META_FILE = "simulator.json"
ARTIFACT_KIND = "mtrec-user-session-model"

N_STATS = 6
STAT_NAMES = (
    "session_position",
    "session_ctr",
    "last_watch_ratio",
    "recent_watch_ratio",
    "history_fill",
    "session_clicks",
)
"""Session statistics appended to the encoded state (also part of the observation)."""
_STEP_NORM = 50.0
_RECENT = 5
_RECENCY_DECAY = 0.85


class InvalidActionError(ValueError):
    """An action outside the simulator's action space (wrong id, shape or type)."""


# --------------------------------------------------------------------------- config


@dataclass
class SimulatorFitConfig:
    """How the user response model is built and fitted (``mtrec fit-sim``)."""

    embed_dim: int = 16
    """Item embedding width d."""
    hidden: int = 32
    """Width of the encoded state h and of the heads' hidden layers."""
    history_len: int = 20
    """Consumed items H the state encodes."""
    n_watch_bins: int = 40
    """Bins of the watch-ratio distribution."""
    max_watch_ratio: float = 2.0
    """Upper edge of the last watch-ratio bin (larger ratios fall in it)."""
    max_slate_size: int = 10
    """Slate positions with their own position bias (later positions share the last)."""
    negatives: int = 4
    """Random non-consumed items added to each event of a log without exposures."""
    epochs: int = 8
    """Maximum passes over the training steps."""
    patience: int = 2
    """Epochs without validation improvement before stopping."""
    batch_size: int = 1024
    """Steps per gradient update."""
    lr: float = 3e-3
    """Adam learning rate."""
    weight_decay: float = 1e-6
    """L2 penalty on all weights."""
    valid_fraction: float = 0.1
    """Share of users held out for early stopping."""
    max_session_len: int = 0
    """Default session cap of the simulator (truncation); 0: the longest logged session."""
    max_starts: int = 4096
    """Logged session starts kept in the artifact as the simulator's start states."""
    holdout_fraction: float = 0.0
    """Share of users ``fit_simulator`` keeps out of fitting (listed in the metadata) for
    fidelity reports on held-out logs."""
    seed: int = 0
    """Seed of the initialisation, negatives and the validation split."""

    def validate(self) -> None:
        """Raise ConfigError with a fix-it message for an invalid value."""
        for name in ("embed_dim", "hidden", "history_len", "n_watch_bins", "max_slate_size",
                     "epochs", "batch_size", "max_starts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_session_len < 0:
            raise ConfigError(f"max_session_len must be >= 0 (0: longest logged session), got {self.max_session_len}")
        if self.negatives < 0 or self.patience < 0:
            raise ConfigError("negatives and patience must be >= 0")
        if not self.max_watch_ratio > 0:
            raise ConfigError(f"max_watch_ratio must be > 0, got {self.max_watch_ratio}; try 2.0")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ConfigError(f"holdout_fraction must be in [0, 1), got {self.holdout_fraction}")
        if not 0.0 <= self.valid_fraction < 0.5:
            raise ConfigError(f"valid_fraction must be in [0, 0.5), got {self.valid_fraction}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}; try 3e-3")


# --------------------------------------------------------------------------- state features


def history_stats(h: Histories, *, max_watch_ratio: float, clean: bool = False) -> np.ndarray:
    """Session statistics ``[B, N_STATS]`` (see ``STAT_NAMES``), all in ``[0, max(1, wr_max)]``.

    ``clean=True`` skips cleaning watch ratios that are known finite and in range.
    """
    items = h.items
    wr = h.watch_ratio if clean else np.clip(np.nan_to_num(h.watch_ratio), 0.0, max_watch_ratio)
    valid = items >= 0
    step = h.session_step.astype(np.float32)
    out = np.empty((items.shape[0], N_STATS), dtype=np.float32)
    out[:, 0] = np.minimum(step, _STEP_NORM) / _STEP_NORM
    out[:, 1] = h.session_clicks / np.maximum(step, 1.0)
    out[:, 2] = np.where(valid[:, -1], wr[:, -1], 0.0)
    rv = valid[:, -_RECENT:]
    out[:, 3] = (wr[:, -_RECENT:] * rv).sum(1) / np.maximum(rv.sum(1), 1)
    out[:, 4] = valid.mean(1)
    out[:, 5] = np.minimum(h.session_clicks, _STEP_NORM) / _STEP_NORM
    return out


def _recency_weights(length: int) -> np.ndarray:
    return (_RECENCY_DECAY ** np.arange(length - 1, -1, -1)).astype(np.float32)


class HistoryObserver:
    """Maps interaction histories to fixed-size observations ``[h, stats]``.

    ``h = tanh(W [recency pool of E[items], watch-ratio pool of E[items], stats] + b)``.
    The fitted simulator's observer uses its learned weights; ``random`` builds a fixed
    random-projection observer (for simulators without a fitted model).
    """

    def __init__(
        self,
        *,
        item_emb: np.ndarray,
        enc_w: np.ndarray,
        enc_b: np.ndarray,
        history_len: int,
        max_watch_ratio: float,
    ) -> None:
        self.item_emb = np.asarray(item_emb, dtype=np.float32)
        self.enc_w = np.asarray(enc_w, dtype=np.float32)
        self.enc_b = np.asarray(enc_b, dtype=np.float32)
        self.history_len = int(history_len)
        self.max_watch_ratio = float(max_watch_ratio)
        self.n_items = int(self.item_emb.shape[0])
        self.hidden = int(self.enc_w.shape[0])
        self._rw = _recency_weights(self.history_len)
        hi = max(1.0, self.max_watch_ratio)
        low = np.concatenate([-np.ones(self.hidden), np.zeros(N_STATS)]).astype(np.float32)
        high = np.concatenate([np.ones(self.hidden), np.full(N_STATS, hi)]).astype(np.float32)
        self.observation_space = gym.spaces.Box(low=low, high=high, dtype=np.float32)

    @classmethod
    def random(
        cls, *, n_items: int, embed_dim: int = 16, hidden: int = 32, history_len: int = 20,
        max_watch_ratio: float = 2.0, seed: int = 0,
    ) -> HistoryObserver:
        """A fixed random-projection observer (deterministic for ``seed``)."""
        g = np.random.default_rng(seed)
        emb = g.normal(0.0, 1.0, size=(n_items, embed_dim)).astype(np.float32)
        w = g.normal(0.0, 1.0 / math.sqrt(2 * embed_dim + N_STATS),
                     size=(hidden, 2 * embed_dim + N_STATS)).astype(np.float32)
        return cls(item_emb=emb, enc_w=w, enc_b=np.zeros(hidden, np.float32),
                   history_len=history_len, max_watch_ratio=max_watch_ratio)

    @property
    def obs_dim(self) -> int:
        """Observation width (hidden + N_STATS)."""
        return self.hidden + N_STATS

    def encode(self, h: Histories) -> tuple[np.ndarray, np.ndarray]:
        """Return (encoded state [B, hidden], stats [B, N_STATS])."""
        h = h.tail(self.history_len) if h.length != self.history_len else h
        items = h.items
        valid = items >= 0
        wr = np.clip(np.nan_to_num(h.watch_ratio), 0.0, self.max_watch_ratio) * valid
        e = self.item_emb[np.where(valid, items, 0)]  # [B, H, d]
        rw = valid * self._rw
        p1 = np.einsum("bh,bhd->bd", rw, e) / np.maximum(rw.sum(1, keepdims=True), 1e-6)
        p2 = np.einsum("bh,bhd->bd", wr, e) / np.maximum(wr.sum(1, keepdims=True), 1e-6)
        stats = history_stats(h, max_watch_ratio=self.max_watch_ratio)
        x = np.concatenate([p1, p2, stats], axis=1)
        state = np.tanh(x @ self.enc_w.T + self.enc_b).astype(np.float32)
        return state, stats

    def observe(self, h: Histories) -> np.ndarray:
        """Observations float32 [B, obs_dim]."""
        state, stats = self.encode(h)
        return np.clip(np.concatenate([state, stats], axis=1), self.observation_space.low,
                       self.observation_space.high).astype(np.float32)


class HistoryTracker:
    """The histories of B users in session plus running pools of their embeddings.

    Keeps the two pooled sums of ``HistoryObserver.encode`` up to date as items are
    consumed (a window shift multiplies recency weights by the decay), so encoding a
    batch costs O(B d) per step instead of a gather over the whole window. Matches
    ``observer.observe(tracker.histories)`` to float rounding.
    """

    def __init__(self, observer: HistoryObserver, batch_size: int) -> None:
        self.observer = observer
        self.batch_size = int(batch_size)
        length, d = observer.history_len, observer.item_emb.shape[1]
        self.histories = Histories.empty(self.batch_size, length)
        self._num1 = np.zeros((self.batch_size, d))
        self._den1 = np.zeros(self.batch_size)
        self._num2 = np.zeros((self.batch_size, d))
        self._den2 = np.zeros(self.batch_size)
        self._drop_w = _RECENCY_DECAY**length
        self._rw = _recency_weights(length).astype(np.float64)
        self.state = np.zeros((self.batch_size, observer.hidden), np.float32)
        self.stats = np.zeros((self.batch_size, N_STATS), np.float32)

    def snapshot(self) -> Histories:
        """A copy of the current histories."""
        h = self.histories
        return Histories(h.items.copy(), h.watch_ratio.copy(), h.session_step.copy(), h.session_clicks.copy())

    def set_rows(self, rows: np.ndarray, items: np.ndarray | None = None, watch_ratio: np.ndarray | None = None) -> None:
        """Start a new session in ``rows`` with the given windows (empty when None)."""
        if rows.size == 0:
            return
        h, ob = self.histories, self.observer
        if items is None:
            h.items[rows] = PAD
            h.watch_ratio[rows] = 0.0
        else:
            h.items[rows] = items
            h.watch_ratio[rows] = np.clip(np.nan_to_num(watch_ratio), 0.0, ob.max_watch_ratio)
        h.new_session(rows)
        it, wr = h.items[rows], h.watch_ratio[rows].astype(np.float64)
        valid = it >= 0
        e = ob.item_emb[np.where(valid, it, 0)].astype(np.float64)
        rw = valid * self._rw
        wv = wr * valid
        self._num1[rows] = np.einsum("bh,bhd->bd", rw, e)
        self._den1[rows] = rw.sum(1)
        self._num2[rows] = np.einsum("bh,bhd->bd", wv, e)
        self._den2[rows] = wv.sum(1)
        self.encode()

    def record(self, clicked_item: np.ndarray, watch_ratio: np.ndarray, stepped: np.ndarray | None = None) -> None:
        """Append one step's consumption (``clicked_item`` -1 = none) for ``stepped`` rows."""
        h, ob = self.histories, self.observer
        item = np.asarray(clicked_item, dtype=np.int64)
        cr = np.flatnonzero(item >= 0 if stepped is None else (item >= 0) & stepped)
        if cr.size:
            new, wr_new = item[cr], np.clip(np.asarray(watch_ratio, np.float64)[cr], 0.0, ob.max_watch_ratio)
            old = h.items[cr, 0]
            ov = old >= 0
            e_new = ob.item_emb[new].astype(np.float64)
            e_old = ob.item_emb[np.where(ov, old, 0)].astype(np.float64) * ov[:, None]
            wr_old = h.watch_ratio[cr, 0].astype(np.float64) * ov
            self._num1[cr] = _RECENCY_DECAY * self._num1[cr] + e_new - self._drop_w * e_old
            self._den1[cr] = _RECENCY_DECAY * self._den1[cr] + 1.0 - self._drop_w * ov
            self._num2[cr] += wr_new[:, None] * e_new - wr_old[:, None] * e_old
            self._den2[cr] = np.maximum(self._den2[cr] + wr_new - wr_old, 0.0)
            h.items[cr, :-1] = h.items[cr, 1:]
            h.items[cr, -1] = new
            h.watch_ratio[cr, :-1] = h.watch_ratio[cr, 1:]
            h.watch_ratio[cr, -1] = wr_new
            h.session_clicks[cr] += 1
        if stepped is None:
            h.session_step += 1
        else:
            h.session_step[stepped] += 1
        self.encode()

    def encode(self) -> None:
        """Refresh ``state`` and ``stats`` from the running pools."""
        ob = self.observer
        p1 = self._num1 / np.maximum(self._den1, 1e-6)[:, None]
        p2 = self._num2 / np.maximum(self._den2, 1e-6)[:, None]
        self.stats = history_stats(self.histories, max_watch_ratio=ob.max_watch_ratio, clean=True)
        x = np.concatenate([p1.astype(np.float32), p2.astype(np.float32), self.stats], axis=1)
        self.state = np.tanh(x @ ob.enc_w.T + ob.enc_b).astype(np.float32)

    def observe(self) -> np.ndarray:
        """Observations [B, obs_dim]."""
        space = self.observer.observation_space
        obs = np.concatenate([self.state, self.stats], axis=1)
        return np.clip(obs, space.low, space.high)


# --------------------------------------------------------------------------- training data


@dataclass
class StepData:
    """Slate-level training steps built from a log (numpy arrays, one row per step)."""

    user: np.ndarray
    hist_items: np.ndarray
    hist_wr: np.ndarray
    session_step: np.ndarray
    session_clicks: np.ndarray
    slate: np.ndarray
    chosen: np.ndarray
    watch_ratio: np.ndarray
    leave: np.ndarray
    session_start: np.ndarray

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def histories(self, rows: np.ndarray | slice = slice(None)) -> Histories:
        """The pre-step histories of ``rows``."""
        return Histories(
            items=self.hist_items[rows], watch_ratio=self.hist_wr[rows],
            session_step=self.session_step[rows], session_clicks=self.session_clicks[rows],
        )

    def subset(self, rows: np.ndarray) -> StepData:
        """Rows of every array."""
        return StepData(**{f.name: getattr(self, f.name)[rows] for f in dataclasses.fields(self)})


def dataset_fingerprint(df: pd.DataFrame) -> str:
    """sha256 (16 hex digits) of the training columns' content, rows in order."""
    cols = sorted(c for c in df.columns if c not in label_columns(df) and c != "source_index")
    h = hashlib.sha256(",".join(cols).encode())
    h.update(pd.util.hash_pandas_object(df[cols], index=False).to_numpy().tobytes())
    return f"{len(df)}:{h.hexdigest()[:16]}"


def item_durations(df: pd.DataFrame, n_items: int) -> np.ndarray:
    """Median logged duration per item (seconds); 1.0 everywhere when the log has none."""
    if "duration" not in df.columns:
        return np.ones(n_items, dtype=np.float32)
    med = df.groupby("item_id")["duration"].median()
    out = np.full(n_items, float(df["duration"].median()), dtype=np.float32)
    out[med.index.to_numpy()] = med.to_numpy()
    return np.maximum(out, 1e-3)


def build_steps(
    df: pd.DataFrame, *, n_items: int, history_len: int, negatives: int, seed: int
) -> StepData:
    """Group a canonical log into slate-level steps with their pre-step histories.

    A step is a slate (``slate_id``), or one event when the log has no slates. The
    user's choice is the first clicked position (the log's users click at most one item
    per slate in the ground-truth world); the consumed history is the chosen items. A
    step is the session's last (``leave``) when the next step starts another session.
    Vectorised: no Python loop over events.
    """
    if len(df) == 0:
        raise DataError("the interaction log is empty: nothing to fit the simulator on")
    df = sort_events(df)
    n = len(df)
    has_click = "click" in df.columns
    click = df["click"].to_numpy().astype(bool) if has_click else np.ones(n, bool)
    if "watch_ratio" in df.columns:
        wr_row = df["watch_ratio"].to_numpy(dtype=np.float64)
    elif "watch_time" in df.columns and "duration" in df.columns:
        wr_row = df["watch_time"].to_numpy(dtype=np.float64) / np.maximum(df["duration"].to_numpy(), 1e-9)
    else:
        wr_row = np.ones(n)
    wr_row = np.nan_to_num(wr_row)
    items_row = df["item_id"].to_numpy(np.int64)
    if items_row.min() < 0 or items_row.max() >= n_items:
        raise DataError(f"item ids must be dense in [0, {n_items}), found {items_row.min()}..{items_row.max()}",
                        column="item_id")
    if "slate_id" in df.columns:
        step_of_row = pd.factorize(df["slate_id"].to_numpy())[0]
    else:
        step_of_row = np.arange(n)
    order = np.lexsort(
        (df["position"].to_numpy() if "position" in df.columns else np.arange(n), step_of_row)
    )
    step_of_row, items_row, click, wr_row = step_of_row[order], items_row[order], click[order], wr_row[order]
    users_row = df["user_id"].to_numpy(np.int64)[order]
    sess_row = df["session_id"].to_numpy(np.int64)[order]
    n_steps = int(step_of_row.max()) + 1
    first = np.flatnonzero(np.r_[True, step_of_row[1:] != step_of_row[:-1]])
    sizes = np.diff(np.r_[first, n])
    rank = np.arange(n) - np.repeat(first, sizes)
    k_max = int(sizes.max())
    slate = np.full((n_steps, k_max), PAD, np.int64)
    slate[step_of_row, rank] = items_row
    # First clicked rank per step (k_max = none).
    clicked_rank = np.where(click, rank, k_max)
    chosen = np.full(n_steps, k_max, np.int64)
    np.minimum.at(chosen, step_of_row, clicked_rank)
    wr_step = np.zeros(n_steps)
    hit = click & (rank == chosen[step_of_row])
    wr_step[step_of_row[hit]] = wr_row[hit]
    user = users_row[first]
    sess = sess_row[first]
    # Steps follow rows' chronological order; keep it (first rows are sorted by user/time).
    step_order = np.lexsort((np.arange(n_steps), user))
    slate, chosen, wr_step, user, sess = (a[step_order] for a in (slate, chosen, wr_step, user, sess))

    rng = np.random.default_rng(seed)
    no_exposures = (not has_click or click.all()) and k_max == 1
    if no_exposures and negatives > 0:
        # Choice between the consumed item and random others, at a random position.
        neg = rng.integers(0, n_items, size=(n_steps, negatives))
        clash = neg == slate[:, :1]
        neg[clash] = (neg[clash] + 1) % n_items
        full = np.concatenate([slate, neg], axis=1)
        pos = rng.integers(0, negatives + 1, size=n_steps)
        rows = np.arange(n_steps)
        full[rows, 0], full[rows, pos] = full[rows, pos], slate[:, 0]
        slate, chosen = full, pos.astype(np.int64)
        k_max = slate.shape[1]

    clicked = chosen < k_max
    new_user = np.r_[True, user[1:] != user[:-1]]
    new_sess = np.r_[True, (sess[1:] != sess[:-1]) | new_user[1:]]
    leave = np.r_[new_sess[1:], True]
    # Position within session and clicks so far in the session (exclusive).
    sess_start_idx = np.maximum.accumulate(np.where(new_sess, np.arange(n_steps), 0))
    session_step = np.arange(n_steps) - sess_start_idx
    cum_clicks = np.cumsum(clicked) - clicked
    session_clicks = cum_clicks - cum_clicks[sess_start_idx]
    # Consumed sequence per user and each step's window of the H previous consumptions.
    user_start_idx = np.maximum.accumulate(np.where(new_user, np.arange(n_steps), 0))
    n_before = cum_clicks - cum_clicks[user_start_idx]
    cons_idx = np.flatnonzero(clicked)
    cons_items = slate[cons_idx, chosen[cons_idx]]
    cons_wr = wr_step[cons_idx]
    user_cons_start = cum_clicks[user_start_idx]  # index into cons arrays of the user's first
    offs = np.arange(-history_len, 0)
    rel = n_before[:, None] + offs[None, :]
    valid = rel >= 0
    gidx = np.where(valid, user_cons_start[:, None] + rel, 0)
    if cons_items.size == 0:
        hist_items = np.full((n_steps, history_len), PAD, np.int64)
        hist_wr = np.zeros((n_steps, history_len), np.float32)
    else:
        hist_items = np.where(valid, cons_items[gidx], PAD)
        hist_wr = np.where(valid, cons_wr[gidx], 0.0).astype(np.float32)
    return StepData(
        user=user,
        hist_items=hist_items.astype(np.int64),
        hist_wr=hist_wr,
        session_step=session_step.astype(np.int64),
        session_clicks=session_clicks.astype(np.int64),
        slate=slate,
        chosen=chosen,
        watch_ratio=wr_step.astype(np.float32),
        leave=leave,
        session_start=new_sess,
    )


# --------------------------------------------------------------------------- torch model


class UserResponseNet(nn.Module):
    """The trainable user response model (see the module docstring for the equations)."""

    def __init__(self, *, n_items: int, config: SimulatorFitConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.n_items = n_items
        d, hd = c.embed_dim, c.hidden
        self.item_emb = nn.Embedding(n_items, d)
        nn.init.normal_(self.item_emb.weight, std=0.1)
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.pos_bias = nn.Parameter(torch.zeros(c.max_slate_size))
        self.dur_click = nn.Parameter(torch.zeros(()))
        self.enc = nn.Linear(2 * d + N_STATS, hd)
        self.query = nn.Linear(hd, d)
        self.none = nn.Linear(hd, 1)
        self.watch1 = nn.Linear(hd + d + 1, hd)
        self.watch2 = nn.Linear(hd, c.n_watch_bins)
        self.leave1 = nn.Linear(hd + N_STATS + d + 3, hd)
        self.leave2 = nn.Linear(hd, 1)
        self.register_buffer("recency", torch.from_numpy(_recency_weights(c.history_len)))
        self.register_buffer("ldur", torch.zeros(n_items))

    def encode(self, hist_items: torch.Tensor, hist_wr: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        """Encoded state h [B, hidden]."""
        valid = (hist_items >= 0).float()
        e = self.item_emb(hist_items.clamp(min=0))
        rw = valid * self.recency
        p1 = (rw.unsqueeze(-1) * e).sum(1) / rw.sum(1, keepdim=True).clamp(min=1e-6)
        wr = hist_wr.clamp(0.0, self.config.max_watch_ratio) * valid
        p2 = (wr.unsqueeze(-1) * e).sum(1) / wr.sum(1, keepdim=True).clamp(min=1e-6)
        return torch.tanh(self.enc(torch.cat([p1, p2, stats], dim=1)))

    def click_logits(self, h: torch.Tensor, slate: torch.Tensor) -> torch.Tensor:
        """Logits [B, K + 1] (last = no click); padded slots get -inf."""
        k = slate.shape[1]
        s = slate.clamp(min=0)
        q = self.query(h)
        pos = self.pos_bias[torch.clamp(torch.arange(k, device=h.device), max=self.pos_bias.shape[0] - 1)]
        score = (self.item_emb(s) * q.unsqueeze(1)).sum(-1) + self.item_bias[s] + pos + self.dur_click * self.ldur[s]
        score = score.masked_fill(slate < 0, float("-inf"))
        return torch.cat([score, self.none(h)], dim=1)

    def watch_logits(self, h: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        """Logits [B, n_bins] of the watch-ratio bin of consuming ``item``."""
        x = torch.cat([h, self.item_emb(item), self.ldur[item].unsqueeze(1)], dim=1)
        return self.watch2(torch.relu(self.watch1(x)))

    def leave_logit(self, h: torch.Tensor, stats: torch.Tensor, item: torch.Tensor,
                    click: torch.Tensor, wr: torch.Tensor) -> torch.Tensor:
        """Logit [B] of leaving after the response."""
        c = click.float().unsqueeze(1)
        it = item.clamp(min=0)
        x = torch.cat([h, stats, c * self.item_emb(it), c, c * wr.unsqueeze(1).clamp(0, self.config.max_watch_ratio),
                       c * self.ldur[it].unsqueeze(1)], dim=1)
        return self.leave2(torch.relu(self.leave1(x))).squeeze(1)


def _step_tensors(steps: StepData, rows: np.ndarray, config: SimulatorFitConfig) -> dict[str, torch.Tensor]:
    h = steps.histories(rows)
    stats = history_stats(h, max_watch_ratio=config.max_watch_ratio)
    k = steps.slate.shape[1]
    chosen = steps.chosen[rows]
    slate = steps.slate[rows]
    item = np.where(chosen < k, slate[np.arange(rows.size), np.minimum(chosen, k - 1)], -1)
    width = config.max_watch_ratio / config.n_watch_bins
    wbin = np.minimum((steps.watch_ratio[rows] / width).astype(np.int64), config.n_watch_bins - 1)
    return {
        "hist_items": torch.from_numpy(h.items),
        "hist_wr": torch.from_numpy(h.watch_ratio),
        "stats": torch.from_numpy(stats),
        "slate": torch.from_numpy(slate),
        "chosen": torch.from_numpy(chosen),
        "item": torch.from_numpy(item),
        "click": torch.from_numpy(chosen < k),
        "wr": torch.from_numpy(steps.watch_ratio[rows]),
        "wbin": torch.from_numpy(wbin),
        "leave": torch.from_numpy(steps.leave[rows].astype(np.float32)),
    }


def _losses(net: UserResponseNet, b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    h = net.encode(b["hist_items"], b["hist_wr"], b["stats"])
    l_click = nn.functional.cross_entropy(net.click_logits(h, b["slate"]), b["chosen"])
    clicked = b["click"]
    if bool(clicked.any()):
        l_watch = nn.functional.cross_entropy(net.watch_logits(h[clicked], b["item"][clicked]), b["wbin"][clicked])
    else:
        l_watch = h.sum() * 0.0
    l_leave = nn.functional.binary_cross_entropy_with_logits(
        net.leave_logit(h, b["stats"], b["item"], clicked, b["wr"]), b["leave"]
    )
    total = l_click + l_watch + l_leave
    return total, {"click": l_click.item(), "watch": l_watch.item(), "leave": l_leave.item()}


# --------------------------------------------------------------------------- fitted model


class UserModel:
    """The fitted user response model for numpy inference, with its artifact I/O."""

    def __init__(self, *, arrays: dict[str, np.ndarray], config: SimulatorFitConfig,
                 meta: dict[str, Any] | None = None) -> None:
        self.config = config
        self.meta = dict(meta or {})
        a = {k: np.asarray(v) for k, v in arrays.items()}
        self.arrays = a
        self.n_items = int(a["item_emb.weight"].shape[0])
        self.item_emb = a["item_emb.weight"].astype(np.float32)
        self.item_bias = a["item_bias"].astype(np.float32)
        self.pos_bias = a["pos_bias"].astype(np.float32)
        self.dur_click = float(np.asarray(a["dur_click"]).reshape(-1)[0])
        self.ldur = a["ldur"].astype(np.float32)
        self.duration = a["item_duration"].astype(np.float32)
        self.item_clicks = a["item_clicks"].astype(np.float64)
        self.start_items = a["start_items"].astype(np.int64)
        self.start_wr = a["start_wr"].astype(np.float32)
        self.start_users = a["start_users"].astype(np.int64)
        self._lin = {n: (a[f"{n}.weight"].astype(np.float32), a[f"{n}.bias"].astype(np.float32))
                     for n in ("query", "none", "watch1", "watch2", "leave1", "leave2")}
        self.observer = HistoryObserver(
            item_emb=self.item_emb, enc_w=a["enc.weight"], enc_b=a["enc.bias"],
            history_len=config.history_len, max_watch_ratio=config.max_watch_ratio,
        )
        self._bin_width = config.max_watch_ratio / config.n_watch_bins
        # Logs without watch information (every consumption "fully watched"): ratio 1.
        self.constant_watch = not self.meta.get("dataset", {}).get("has_watch", True)

    # ---- numpy forward (mirrors UserResponseNet exactly)

    def _linear(self, name: str, x: np.ndarray) -> np.ndarray:
        w, b = self._lin[name]
        return x @ w.T + b

    def click_probs(self, state: np.ndarray, slate: np.ndarray) -> np.ndarray:
        """P(click position k), k < K, and P(no click) last: [B, K + 1]."""
        k = slate.shape[1]
        q = self._linear("query", state)
        pos = self.pos_bias[np.minimum(np.arange(k), self.pos_bias.shape[0] - 1)]
        score = np.einsum("bkd,bd->bk", self.item_emb[slate], q) + self.item_bias[slate] + pos \
            + self.dur_click * self.ldur[slate]
        logits = np.concatenate([score, self._linear("none", state)], axis=1)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def watch_bin_probs(self, state: np.ndarray, item: np.ndarray) -> np.ndarray:
        """Probabilities of the watch-ratio bins [B, n_bins] for consumed ``item`` [B]."""
        x = np.concatenate([state, self.item_emb[item], self.ldur[item][:, None]], axis=1)
        logits = self._linear("watch2", np.maximum(self._linear("watch1", x), 0.0))
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def leave_prob(self, state: np.ndarray, stats: np.ndarray, item: np.ndarray,
                   click: np.ndarray, wr: np.ndarray) -> np.ndarray:
        """P(leave after this response) [B]."""
        c = click.astype(np.float32)[:, None]
        it = np.maximum(item, 0)
        x = np.concatenate([state, stats, c * self.item_emb[it], c,
                            c * np.clip(wr, 0, self.config.max_watch_ratio)[:, None],
                            c * self.ldur[it][:, None]], axis=1)
        z = self._linear("leave2", np.maximum(self._linear("leave1", x), 0.0))[:, 0]
        return 1.0 / (1.0 + np.exp(-z))

    def bin_to_ratio(self, bins: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A watch ratio drawn uniformly within each bin (1.0 for logs without watch data)."""
        if self.constant_watch:
            return np.ones(np.shape(bins), np.float32)
        return ((bins + u) * self._bin_width).astype(np.float32)

    # ---- artifact

    @property
    def fingerprint(self) -> str | None:
        """Fingerprint of the data set the model was fitted on."""
        return self.meta.get("dataset", {}).get("fingerprint")

    def save(self, directory: str | Path) -> Path:
        """Write ``weights.pt`` and ``simulator.json`` into ``directory``; return it."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.arrays.items()},
                   out / WEIGHTS_FILE)
        meta = {
            **self.meta,
            "format": ARTIFACT_KIND,
            "format_version": FORMAT_VERSION,
            "n_items": self.n_items,
            "config": to_dict(self.config),
            "weights": sorted(self.arrays),
        }
        (out / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=_json_default))
        return out

    @classmethod
    def load(cls, directory: str | Path, *, expect_fingerprint: str | None = None) -> UserModel:
        """Load an artifact written by :meth:`save`.

        Args:
            directory: Artifact folder.
            expect_fingerprint: Fingerprint of the data set it must have been fitted on.

        Raises:
            ArtifactError: missing files, another format version, another data set, or
                weights that do not match the metadata.
        """
        src = Path(directory)
        meta_path, w_path = src / META_FILE, src / WEIGHTS_FILE
        if not meta_path.exists() or not w_path.exists():
            raise ArtifactError(
                f"{src} is not a user-session simulator artifact (needs {META_FILE} and "
                f"{WEIGHTS_FILE}); create one with `mtrec fit-sim --data DIR --out {src}`"
            )
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{meta_path} is not valid JSON: {exc}") from None
        if meta.get("format") != ARTIFACT_KIND:
            raise ArtifactError(f"{meta_path}: format {meta.get('format')!r} is not {ARTIFACT_KIND!r}")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(
                f"{src}: simulator format version {meta.get('format_version')!r}, this code reads "
                f"{FORMAT_VERSION}; refit it with `mtrec fit-sim`"
            )
        fp = meta.get("dataset", {}).get("fingerprint")
        if expect_fingerprint is not None and fp != expect_fingerprint:
            raise ArtifactError(
                f"{src}: fitted on data set {fp}, but the data at hand is {expect_fingerprint}; "
                "refit the simulator on this data (`mtrec fit-sim`)"
            )
        try:
            config = from_dict(SimulatorFitConfig, meta["config"])
        except (KeyError, ConfigError) as exc:
            raise ArtifactError(f"{meta_path}: malformed config ({exc})") from None
        state = torch.load(w_path, map_location="cpu", weights_only=True)
        arrays = {k: v.numpy() for k, v in state.items()}
        missing = sorted(set(meta.get("weights", [])) - set(arrays)) or sorted(set(_REQUIRED_ARRAYS) - set(arrays))
        if missing:
            raise ArtifactError(f"{w_path}: missing weight(s) {', '.join(missing)}")
        n = int(meta.get("n_items", -1))
        if arrays["item_emb.weight"].shape != (n, config.embed_dim):
            raise ArtifactError(
                f"{w_path}: item embeddings have shape {tuple(arrays['item_emb.weight'].shape)}, the metadata "
                f"says ({n}, {config.embed_dim})"
            )
        return cls(arrays=arrays, config=config, meta=meta)


_REQUIRED_ARRAYS = (
    "item_emb.weight", "item_bias", "pos_bias", "dur_click", "ldur", "enc.weight", "enc.bias",
    "query.weight", "query.bias", "none.weight", "none.bias", "watch1.weight", "watch1.bias",
    "watch2.weight", "watch2.bias", "leave1.weight", "leave1.bias", "leave2.weight", "leave2.bias",
    "item_duration", "item_clicks", "start_items", "start_wr", "start_users",
)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


_MODEL_CACHE: dict[tuple[str, float], UserModel] = {}


def load_user_model(artifact: str | Path | UserModel) -> UserModel:
    """A ``UserModel`` from a path (cached per process) or the model itself."""
    if isinstance(artifact, UserModel):
        return artifact
    p = Path(artifact).resolve()
    key = (str(p), (p / WEIGHTS_FILE).stat().st_mtime if (p / WEIGHTS_FILE).exists() else 0.0)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = UserModel.load(p)
    return _MODEL_CACHE[key]


def fit_user_model(
    df: pd.DataFrame,
    *,
    n_items: int | None = None,
    config: SimulatorFitConfig | None = None,
    item_ids: list[Any] | None = None,
    source: str = "",
    fingerprint: str | None = None,
    log: Any = None,
) -> UserModel:
    """Fit the user response model on a canonical interaction log.

    Args:
        df: Canonical interactions (``label_*`` columns are never read).
        n_items: Catalogue size (default: max item id + 1).
        config: Architecture and training settings.
        item_ids: Raw item id of each dense id (stored in the artifact's metadata).
        source: Where the data came from (stored in the metadata).
        fingerprint: The data set's fingerprint (default: computed from ``df``).
        log: Optional ``log(message)`` callback for per-epoch lines.

    Returns:
        The fitted model; ``meta["fit"]`` holds the training and validation losses.
    """
    cfg = config or SimulatorFitConfig()
    cfg.validate()
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    df = df[[c for c in df.columns if c not in label_columns(df)]]
    n_items = int(n_items if n_items is not None else df["item_id"].max() + 1)
    steps = build_steps(df, n_items=n_items, history_len=cfg.history_len, negatives=cfg.negatives, seed=cfg.seed)
    if cfg.max_session_len == 0:
        cfg = dataclasses.replace(cfg, max_session_len=int(steps.session_step.max()) + 1)
    rng = np.random.default_rng(cfg.seed)
    users = np.unique(steps.user)
    n_valid = int(round(cfg.valid_fraction * users.size)) if users.size >= 10 else 0
    valid_users = rng.choice(users, size=n_valid, replace=False) if n_valid else np.zeros(0, np.int64)
    is_valid = np.isin(steps.user, valid_users)
    train_rows, valid_rows = np.flatnonzero(~is_valid), np.flatnonzero(is_valid)

    net = UserResponseNet(n_items=n_items, config=cfg)
    duration = item_durations(df, n_items)
    ldur = np.log(duration / 60.0) / 2.0 if "duration" in df.columns else np.zeros(n_items, np.float32)
    net.ldur.copy_(torch.from_numpy(ldur.astype(np.float32)))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    valid_t = _step_tensors(steps, valid_rows, cfg) if valid_rows.size else None
    best, best_state, bad, history = math.inf, None, 0, []
    for epoch in range(cfg.epochs):
        net.train()
        perm = rng.permutation(train_rows)
        tot, nb = 0.0, 0
        for start in range(0, perm.size, cfg.batch_size):
            batch = _step_tensors(steps, perm[start:start + cfg.batch_size], cfg)
            loss, _ = _losses(net, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot, nb = tot + loss.item(), nb + 1
        net.eval()
        with torch.no_grad():
            vloss, vparts = _losses(net, valid_t) if valid_t is not None else (torch.tensor(tot / max(nb, 1)), {})
        row = {"epoch": epoch + 1, "train_loss": tot / max(nb, 1), "valid_loss": float(vloss), **{f"valid_{k}": v for k, v in vparts.items()}}
        history.append(row)
        if log is not None:
            log(f"mtrec fit-sim: epoch {epoch + 1}: train {row['train_loss']:.4f} valid {row['valid_loss']:.4f}")
        if float(vloss) < best - 1e-4:
            best, bad = float(vloss), 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            bad += 1
            if bad > cfg.patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)

    arrays = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items() if k != "recency"}
    starts = np.flatnonzero(steps.session_start)
    if starts.size > cfg.max_starts:
        starts = np.sort(rng.choice(starts, size=cfg.max_starts, replace=False))
    clicked = steps.chosen < steps.slate.shape[1]
    chosen_items = steps.slate[np.flatnonzero(clicked), steps.chosen[clicked]]
    item_clicks = np.bincount(chosen_items, minlength=n_items).astype(np.float64)
    arrays.update(
        item_duration=duration.astype(np.float32),
        item_clicks=item_clicks,
        start_items=steps.hist_items[starts],
        start_wr=steps.hist_wr[starts],
        start_users=steps.user[starts],
    )
    meta = {
        "dataset": {
            "fingerprint": fingerprint or dataset_fingerprint(df),
            "source": source,
            "n_events": len(df),
            "n_users": int(users.size),
            "n_steps": len(steps),
            "max_slate_size": int(steps.slate.shape[1]),
            "has_exposures": bool("click" in df.columns and not df["click"].astype(bool).all()),
            "has_watch": "watch_ratio" in df.columns or "watch_time" in df.columns,
            "has_duration": "duration" in df.columns,
        },
        "item_ids": list(item_ids) if item_ids is not None else None,
        "fit": {"history": history, "best_valid_loss": best, "seconds": time.perf_counter() - t0,
                "train_steps": int(train_rows.size), "valid_steps": int(valid_rows.size)},
    }
    return UserModel(arrays=arrays, config=cfg, meta=meta)


@dataclass
class Interactions:
    """A canonical log with what the simulator fit needs to know about its origin."""

    events: pd.DataFrame
    """Canonical events (training columns only)."""
    n_items: int
    """Item id space (max id + 1)."""
    fingerprint: str
    """The data set's content fingerprint."""
    item_ids: list[Any] | None
    """Raw id of each dense item id, or None when ids are the raw ids."""
    source: str
    """Where the data came from."""


def load_interactions(data_dir: str | Path) -> Interactions:
    """Read a prepared data set (``mtrec ingest``) or a world directory (``mtrec generate``).

    Raises:
        DataError: neither a prepared data set nor a world directory.
    """
    from mtrec_ray.data.dataset import fingerprint, load_dataset

    p = Path(data_dir)
    if (p / "metadata.json").exists():
        ds = load_dataset(p)
        events = ds.events
        raw = ds.item_map.sort_values("item_id")["raw_item_id"].to_numpy()
        identity = raw.dtype.kind in "iu" and np.array_equal(raw, ds.item_map.sort_values("item_id")["item_id"].to_numpy())
        item_ids = None if identity else [x.item() if isinstance(x, np.generic) else x for x in raw]
        return Interactions(events=_training_view(events), n_items=ds.n_items,
                            fingerprint=str(ds.metadata.get("fingerprint") or fingerprint(events)),
                            item_ids=item_ids, source=str(p))
    if (p / "logs.parquet").exists():
        from envs.ground_truth_world import load_world_logs

        wl = load_world_logs(p)
        return Interactions(events=_training_view(wl.logs), n_items=wl.config.n_items,
                            fingerprint=fingerprint(wl.logs), item_ids=None, source=str(p))
    raise DataError(
        "not a prepared data set (metadata.json) or a world directory (logs.parquet); "
        "create one with `mtrec ingest` or `mtrec generate`", path=str(p)
    )


def _training_view(events: pd.DataFrame) -> pd.DataFrame:
    drop = set(label_columns(events)) | {"split", "split_time", "source_index"}
    return events[[c for c in events.columns if c not in drop]]


def holdout_users(users: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The users ``fit_simulator`` keeps out (sorted), drawn with ``seed``."""
    users = np.unique(np.asarray(users, dtype=np.int64))
    n = int(round(fraction * users.size))
    if n == 0:
        return np.zeros(0, np.int64)
    return np.sort(np.random.default_rng([seed, 17]).choice(users, size=n, replace=False))


def fit_simulator(
    data_dir: str | Path,
    out_dir: str | Path,
    config: SimulatorFitConfig | None = None,
    *,
    log: Any = None,
) -> Path:
    """Fit the user response model on a data set and save the artifact (``mtrec fit-sim``).

    Args:
        data_dir: Prepared data set (``mtrec ingest``) or world directory (``mtrec generate``).
        out_dir: Artifact directory (``weights.pt`` + ``simulator.json``).
        config: Fit settings; ``holdout_fraction`` keeps that share of users out (their
            ids go to the metadata for ``mtrec_ray.eval.fidelity``).
        log: Optional ``log(message)`` for progress lines.

    Returns:
        ``out_dir``.
    """
    cfg = config or SimulatorFitConfig()
    cfg.validate()
    data = load_interactions(data_dir)
    held = holdout_users(data.events["user_id"].to_numpy(), cfg.holdout_fraction, cfg.seed)
    train = data.events[~data.events["user_id"].isin(held)] if held.size else data.events
    model = fit_user_model(train, n_items=data.n_items, config=cfg, item_ids=data.item_ids,
                           source=data.source, fingerprint=data.fingerprint, log=log)
    model.meta["dataset"]["holdout_users"] = held.tolist()
    model.meta["dataset"]["fingerprint_scope"] = "whole data set (before the user hold-out)"
    return model.save(out_dir)


# --------------------------------------------------------------------------- batched engine


RESPONSE_DTYPES: dict[str, Any] = {
    "click": np.int8,
    "clicked_item": np.int64,
    "position": np.int64,
    "watch_ratio": np.float32,
    "watch_time": np.float32,
    "leave": np.bool_,
}
"""Fields and dtypes of a batched response (a ground-truth simulator adds ``satisfaction``)."""


class UserSessionCore:
    """B simulated users in session, stepped together (numpy; shared by single and vector envs)."""

    has_true_satisfaction = False

    def __init__(self, *, model: UserModel, batch_size: int, max_session_len: int) -> None:
        self.model = model
        self.batch_size = int(batch_size)
        self.max_session_len = int(max_session_len)
        self.n_items = model.n_items
        self.observer = model.observer
        self.tracker = HistoryTracker(model.observer, self.batch_size)

    @property
    def histories(self) -> Histories:
        """The users' current histories."""
        return self.tracker.histories

    def reset_rows(self, rows: np.ndarray, rng: np.random.Generator) -> None:
        """Start new sessions in ``rows`` from logged session starts."""
        if rows.size == 0:
            return
        pick = rng.integers(0, self.model.start_items.shape[0], size=rows.size)
        self.tracker.set_rows(rows, self.model.start_items[pick], self.model.start_wr[pick])
        self.tracker.histories.user_ids[rows] = self.model.start_users[pick]

    def observe(self) -> np.ndarray:
        """Observations [B, obs_dim] of the current states."""
        return self.tracker.observe()

    def step(
        self, slate: np.ndarray, rng: np.random.Generator, active: np.ndarray | None = None
    ) -> tuple[dict[str, np.ndarray], RewardContext]:
        """Show ``slate`` [B, K] to every user; sample responses; advance the states.

        Every row is stepped (``active`` is accepted for the core protocol: rows about
        to be reset are stepped too and their results discarded, which keeps the random
        stream independent of which rows ended).
        """
        m = self.model
        b, k = slate.shape
        u = rng.random((b, 4))
        tr = self.tracker
        before = tr.snapshot()
        p = m.click_probs(tr.state, slate)
        choice = (u[:, :1] > np.cumsum(p, axis=1)[:, :-1]).sum(axis=1)  # 0..K (K = none)
        clicked = choice < k
        rows = np.arange(b)
        item = np.where(clicked, slate[rows, np.minimum(choice, k - 1)], -1)
        wr = np.zeros(b, np.float32)
        ci = np.flatnonzero(clicked)
        if ci.size:
            pb = m.watch_bin_probs(tr.state[ci], item[ci])
            bins = (u[ci, 1:2] > np.cumsum(pb, axis=1)[:, :-1]).sum(axis=1)
            wr[ci] = m.bin_to_ratio(bins, u[ci, 2])
        p_leave = m.leave_prob(tr.state, tr.stats, item, clicked, wr)
        leave = u[:, 3] < p_leave
        watch_time = np.where(clicked, wr * m.duration[np.maximum(item, 0)], 0.0).astype(np.float32)
        response = {
            "click": clicked.astype(np.int8),
            "clicked_item": item.astype(np.int64),
            "position": np.where(clicked, choice, -1).astype(np.int64),
            "watch_ratio": wr,
            "watch_time": watch_time,
            "leave": leave,
        }
        tr.record(item, wr)
        return response, RewardContext(histories=before, slate=slate, response=response)

    def end_flags(self, leave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(terminated, truncated) per row: left, or reached the session cap without leaving."""
        terminated = np.asarray(leave, dtype=bool).copy()
        return terminated, (self.histories.session_step >= self.max_session_len) & ~terminated


# --------------------------------------------------------------------------- action handling


def action_space_for(n_items: int, slate_size: int) -> gym.spaces.Space:
    """``Discrete(n_items)`` for one item, ``MultiDiscrete([n_items] * K)`` for a slate."""
    if slate_size < 1:
        raise ConfigError(f"slate_size must be >= 1, got {slate_size}")
    if slate_size > n_items:
        raise ConfigError(f"slate_size {slate_size} exceeds the catalogue size {n_items}")
    if slate_size == 1:
        return gym.spaces.Discrete(n_items)
    return gym.spaces.MultiDiscrete(np.full(slate_size, n_items, dtype=np.int64))


def validate_actions(actions: Any, *, n_items: int, slate_size: int, batch: int | None) -> np.ndarray:
    """Check actions and return them as int64 slates ``[B, K]`` (B = 1 for a single env).

    Raises:
        InvalidActionError: non-integer values, a wrong shape, or ids outside the catalogue.
    """
    arr = np.asarray(actions)
    what = f"Discrete({n_items})" if slate_size == 1 else f"MultiDiscrete([{n_items}] * {slate_size})"
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise InvalidActionError(
                f"action must hold integer item ids for {what}, got {actions!r} (dtype {arr.dtype})"
            )
    expected = (() if slate_size == 1 else (slate_size,)) if batch is None else (
        (batch,) if slate_size == 1 else (batch, slate_size))
    if batch is None and slate_size == 1 and arr.shape == (1,):
        arr = arr.reshape(())
    if arr.shape != expected:
        raise InvalidActionError(f"action for {what} must have shape {expected}, got shape {arr.shape}: {actions!r}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_items):
        bad = arr[(arr < 0) | (arr >= n_items)].reshape(-1)[:5].tolist()
        raise InvalidActionError(f"item id(s) {bad} outside the catalogue 0..{n_items - 1} of {what}")
    return arr.astype(np.int64).reshape(-1 if batch is None else batch, slate_size)


def _scalar_response(resp: dict[str, np.ndarray], row: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in resp.items():
        x = v[row]
        out[k] = bool(x) if k == "leave" else (int(x) if np.issubdtype(v.dtype, np.integer) else float(x))
    return out


# --------------------------------------------------------------------------- the env


class SingleSessionEnv(gym.Env[np.ndarray, Any]):
    """One simulated user's session over a batched core of size 1: the shared step and render.

    Subclasses set ``core`` (a core with ``step``, ``end_flags``, ``observe`` and
    ``histories``), ``reward_fn``, ``n_items``, ``slate_size``, the spaces and
    ``render_mode`` (through :meth:`_set_render_mode`), and implement ``reset``.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}
    core: Any
    reward_fn: RewardFunction
    n_items: int
    slate_size: int

    def _set_render_mode(self, render_mode: str | None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(f"render_mode {render_mode!r} not in {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self._last: dict[str, Any] = {}

    def _check_can_step(self) -> None:
        """Raise when a step is not allowed now (default: always allowed)."""

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        slate = validate_actions(action, n_items=self.n_items, slate_size=self.slate_size, batch=None)
        self._check_can_step()
        response, ctx = self.core.step(slate, self.np_random)
        reward = float(self.reward_fn(ctx)[0])
        term, trunc = self.core.end_flags(response["leave"])
        info = {"response": _scalar_response(response, 0), "slate": slate[0].copy(),
                "session_step": int(self.core.histories.session_step[0])}
        self._last = info
        return self.core.observe()[0], reward, bool(term[0]), bool(trunc[0]), info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        r = self._last.get("response")
        if r is None:
            return "session start"
        satisfaction = f" satisfaction {r['satisfaction']:.2f}" if "satisfaction" in r else ""
        return (f"step {self._last['session_step']}: slate {self._last['slate'].tolist()} -> "
                f"click {r['clicked_item']} watch {r['watch_ratio']:.2f}{satisfaction} "
                f"leave {r['leave']}")


class UserSessionEnv(SingleSessionEnv):
    """One user session in a simulator fitted from logs.

    ## Description
    The agent is the recommender, the environment a user sampled from the logs. Each
    step the agent shows one item or a slate; the fitted user response model samples
    the user's click (a choice among the slate or none), the watch ratio of the
    consumed item, and whether the user leaves.

    ## Observation space
    ``Box(hidden + 6)``, float32: the encoded history ``h`` in ``[-1, 1]`` (the last
    ``history_len`` consumed items and their watch ratios) and six session statistics
    in ``[0, max(1, max_watch_ratio)]`` (see ``STAT_NAMES``).

    ## Action space
    ``Discrete(n_items)`` when ``slate_size == 1``, else ``MultiDiscrete([n_items] * K)``
    (repeated items in a slate are allowed and shown as given). Anything else raises
    ``InvalidActionError``.

    ## Reward
    From the pluggable reward function (``reward``): ``click`` (default),
    ``watch_time`` (minutes), ``watch_ratio``, ``mental:MODEL_DIR`` or a
    ``module:Factory`` (see ``mtrec_ray.rl.rewards``). ``satisfaction`` is refused: only
    the ground-truth world knows it.

    ## Starting state
    The history at the start of a logged session, drawn uniformly from those kept in the
    artifact.

    ## Episode end
    Terminated when the user leaves; truncated after ``max_session_len`` slates.
    ``info["response"]`` holds click, clicked_item, position, watch_ratio, watch_time
    and leave (no satisfaction: a fitted simulator does not know it).

    ## Arguments
    ``artifact`` (directory written by ``mtrec fit-sim``, or a ``UserModel``),
    ``slate_size`` (1), ``max_session_len`` (the artifact's: by default the longest
    logged session),
    ``reward`` ("click").

    ## Version history
    v0: initial release.
    """

    has_true_satisfaction = False

    def __init__(
        self,
        *,
        artifact: str | Path | UserModel,
        slate_size: int = 1,
        max_session_len: int | None = None,
        reward: str | RewardFunction | None = "click",
        render_mode: str | None = None,
    ) -> None:
        self.model = load_user_model(artifact)
        self.n_items = self.model.n_items
        self.slate_size = int(slate_size)
        self.max_session_len = int(max_session_len or self.model.config.max_session_len)
        if self.max_session_len < 1:
            raise ConfigError(f"max_session_len must be >= 1, got {self.max_session_len}")
        self.reward_fn = resolve_reward(reward)
        if self.reward_fn.requires_true_satisfaction:
            raise ConfigError(
                f"reward {self.reward_fn.name!r} needs the true satisfaction, which only the "
                "ground-truth world knows (mtrec/GroundTruthWorld-v0); pick click, watch_time, "
                "watch_ratio or mental:MODEL_DIR"
            )
        self._set_render_mode(render_mode)
        self.core = UserSessionCore(model=self.model, batch_size=1, max_session_len=self.max_session_len)
        self.history_observer = self.model.observer
        self.observation_space = self.model.observer.observation_space
        self.action_space = action_space_for(self.n_items, self.slate_size)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.core.reset_rows(np.zeros(1, np.int64), self.np_random)
        self._last = {}
        return self.core.observe()[0], {"session_step": 0}

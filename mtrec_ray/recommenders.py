"""The ``Recommender`` interface, the interaction histories it reads, and two baselines.

Every recommender in mtrec-ray (random, popularity, an RLlib policy exported from a
checkpoint, the sequential recommenders) answers one question: given a batch of users'
interaction histories, which ``k`` items to show next::

    slates = recommender.recommend(histories, k, rng=rng)   # int64 [B, k]

``k = 1`` recommends one item per user (shape ``[B, 1]``). The A/B harness
(``mtrec_ray.eval.ab``) deploys recommenders through this interface only.

Build one from a short spec string with :func:`make_recommender`: ``random``,
``popularity``, ``policy:RUN_DIR`` (a trained RLlib policy, see ``mtrec_ray.rl``),
``seqrec:DIR`` (a saved SASRec / GRU4Rec, see ``mtrec_ray.seqrec``), or
``module.path:Factory`` (called with ``n_items=``, ``popularity=``, ``seed=``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mtrec_ray.errors import ConfigError

PAD = -1
"""Item id used to pad histories on the left."""


@dataclass
class Histories:
    """A batch of users' recent interaction histories (what a recommender may read).

    Consumed (clicked) items only, oldest first, left-padded with ``PAD``; the current
    session's counters let a policy see where in the session the user is. Histories span
    sessions: the items consumed in earlier sessions stay in the window.
    """

    items: np.ndarray
    """int64 [B, H]: consumed item ids, oldest -> newest, ``PAD`` (-1) on the left."""
    watch_ratio: np.ndarray
    """float32 [B, H]: watch ratio of each consumed item (0 on padding)."""
    session_step: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """int64 [B]: slates shown so far in the current session."""
    session_clicks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """int64 [B]: clicks so far in the current session."""
    user_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """int64 [B]: user ids where known (``-1`` otherwise)."""

    def __post_init__(self) -> None:
        self.items = np.asarray(self.items, dtype=np.int64)
        if self.items.ndim != 2:
            raise ValueError(f"Histories.items must be 2-D [B, H], got shape {self.items.shape}")
        b = self.items.shape[0]
        self.watch_ratio = np.asarray(self.watch_ratio, dtype=np.float32).reshape(self.items.shape)
        for name in ("session_step", "session_clicks"):
            v = np.asarray(getattr(self, name), dtype=np.int64)
            setattr(self, name, v if v.shape == (b,) else np.zeros(b, np.int64))
        u = np.asarray(self.user_ids, dtype=np.int64)
        self.user_ids = u if u.shape == (b,) else np.full(b, -1, np.int64)

    @property
    def batch_size(self) -> int:
        """Number of users B."""
        return int(self.items.shape[0])

    @property
    def length(self) -> int:
        """Window length H."""
        return int(self.items.shape[1])

    @classmethod
    def empty(cls, batch_size: int, length: int) -> Histories:
        """B users with no history yet, at the start of a session."""
        return cls(
            items=np.full((batch_size, length), PAD, np.int64),
            watch_ratio=np.zeros((batch_size, length), np.float32),
        )

    @classmethod
    def from_sequences(
        cls,
        sequences: list[list[int]],
        *,
        length: int,
        watch_ratios: list[list[float]] | None = None,
    ) -> Histories:
        """Histories from per-user item lists (the last ``length`` items are kept)."""
        h = cls.empty(len(sequences), length)
        for i, seq in enumerate(sequences):
            tail = list(seq)[-length:]
            if tail:
                h.items[i, length - len(tail) :] = tail
                wr = (
                    list(watch_ratios[i])[-length:]
                    if watch_ratios is not None
                    else [1.0] * len(tail)
                )
                h.watch_ratio[i, length - len(tail) :] = wr
        return h

    def select(self, rows: np.ndarray) -> Histories:
        """The histories of a subset of users."""
        return Histories(
            items=self.items[rows],
            watch_ratio=self.watch_ratio[rows],
            session_step=self.session_step[rows],
            session_clicks=self.session_clicks[rows],
            user_ids=self.user_ids[rows],
        )

    def tail(self, length: int) -> Histories:
        """The last ``length`` positions of the window (left-padded if longer than H)."""
        if length <= self.length:
            items, wr = self.items[:, -length:], self.watch_ratio[:, -length:]
        else:
            pad = length - self.length
            items = np.concatenate(
                [np.full((self.batch_size, pad), PAD, np.int64), self.items], axis=1
            )
            wr = np.concatenate([np.zeros((self.batch_size, pad), np.float32), self.watch_ratio], axis=1)
        return Histories(items, wr, self.session_step, self.session_clicks, self.user_ids)

    def push(self, clicked_item: np.ndarray, watch_ratio: np.ndarray) -> None:
        """Record one step for every user in place (``clicked_item`` -1 = no click)."""
        clicked_item = np.asarray(clicked_item, dtype=np.int64)
        rows = np.flatnonzero(clicked_item >= 0)
        if rows.size:
            self.items[rows, :-1] = self.items[rows, 1:]
            self.items[rows, -1] = clicked_item[rows]
            self.watch_ratio[rows, :-1] = self.watch_ratio[rows, 1:]
            self.watch_ratio[rows, -1] = np.asarray(watch_ratio, np.float32)[rows]
        self.session_step += 1
        self.session_clicks += (clicked_item >= 0).astype(np.int64)

    def new_session(self, rows: np.ndarray | None = None) -> None:
        """Zero the session counters (all users, or ``rows``); the item window is kept."""
        if rows is None:
            self.session_step[:] = 0
            self.session_clicks[:] = 0
        else:
            self.session_step[rows] = 0
            self.session_clicks[rows] = 0


@runtime_checkable
class Recommender(Protocol):
    """Anything that recommends ``k`` items for each history in a batch."""

    name: str
    """Short label used in reports (an A/B arm's name)."""

    def recommend(
        self, histories: Histories, k: int, *, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Return int64 item ids of shape ``[B, k]`` (distinct within a row when possible)."""
        ...


def _check_k(k: int, n_items: int) -> None:
    if not 1 <= k <= n_items:
        raise ValueError(f"k must be in 1..{n_items} (the catalogue size), got {k}")


class RandomRecommender:
    """Uniformly random distinct items; the floor every recommender must beat."""

    def __init__(self, *, n_items: int, name: str = "random", seed: int = 0) -> None:
        if n_items < 1:
            raise ConfigError(f"n_items must be positive, got {n_items}")
        self.n_items = int(n_items)
        self.name = name
        self._rng = np.random.default_rng(seed)

    def recommend(
        self, histories: Histories, k: int, *, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """K distinct random items per user (Gumbel top-k, vectorised)."""
        _check_k(k, self.n_items)
        g = rng if rng is not None else self._rng
        b = histories.batch_size
        if k == 1:
            return g.integers(0, self.n_items, size=(b, 1), dtype=np.int64)
        keys = g.random((b, self.n_items))
        return np.argpartition(keys, k - 1, axis=1)[:, :k].astype(np.int64)


class PopularityRecommender:
    """The most popular items (by logged consumption), optionally skipping consumed ones."""

    def __init__(
        self,
        *,
        counts: np.ndarray,
        name: str = "popularity",
        exclude_history: bool = True,
    ) -> None:
        counts = np.asarray(counts, dtype=np.float64)
        if counts.ndim != 1 or counts.size == 0:
            raise ConfigError("popularity counts must be a non-empty 1-D array (one per item)")
        self.n_items = int(counts.size)
        self.name = name
        self.exclude_history = exclude_history
        # Stable order: ties broken by item id.
        self._order = np.lexsort((np.arange(self.n_items), -counts)).astype(np.int64)

    @classmethod
    def from_interactions(cls, item_ids: np.ndarray, n_items: int, **kwargs: Any) -> PopularityRecommender:
        """Counts from a column of consumed item ids."""
        counts = np.bincount(np.asarray(item_ids, dtype=np.int64), minlength=n_items)[:n_items]
        return cls(counts=counts, **kwargs)

    def recommend(
        self, histories: Histories, k: int, *, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Top-k by popularity; with ``exclude_history`` items in the window are skipped."""
        _check_k(k, self.n_items)
        b = histories.batch_size
        if not self.exclude_history:
            return np.tile(self._order[:k], (b, 1))
        depth = min(self.n_items, k + histories.length)
        cand = self._order[:depth]  # [D]
        seen = (histories.items[:, :, None] == cand[None, None, :]).any(axis=1)  # [B, D]
        # Unseen candidates first, in popularity order (stable sort keeps the order).
        rank = np.argsort(seen, axis=1, kind="stable")[:, :k]
        return cand[rank].astype(np.int64)


def parse_arm(text: str) -> tuple[str, str]:
    """Split ``NAME=SPEC`` into (name, spec); a bare ``SPEC`` is its own name."""
    name, sep, spec = text.partition("=")
    if sep and name.strip() and all(c.isalnum() or c in "_-." for c in name.strip()):
        return name.strip(), spec.strip()
    return text.strip(), text.strip()


def make_recommender(
    spec: str,
    *,
    n_items: int,
    popularity: np.ndarray | None = None,
    seed: int = 0,
    name: str | None = None,
) -> Recommender:
    """Build a recommender from a spec string.

    Args:
        spec: ``random``, ``popularity``, ``policy:RUN_DIR`` (an RLlib run written by
            ``mtrec_ray.rl.train_policy``), ``seqrec:DIR`` (``TrainedSeqRec.save``) or ``module.path:Factory`` (called with
            ``n_items=``, ``popularity=``, ``seed=``), optionally as ``NAME=SPEC``.
        n_items: Catalogue size.
        popularity: Per-item consumption counts (needed by ``popularity``).
        seed: Seed of randomised recommenders.
        name: Label for reports (defaults to the spec).

    Raises:
        ConfigError: unknown spec, or missing popularity counts.
    """
    parsed_name, spec = parse_arm(spec)
    label = name or parsed_name
    if spec == "random":
        return RandomRecommender(n_items=n_items, seed=seed, name=label)
    if spec == "popularity":
        if popularity is None:
            raise ConfigError("the 'popularity' recommender needs item counts (pass popularity=)")
        return PopularityRecommender(counts=popularity, name=label)
    if spec.startswith("policy:"):
        from mtrec_ray.rl.policy import PolicyRecommender

        return PolicyRecommender.load(spec[len("policy:") :], name=label)
    if spec.startswith("seqrec:"):
        from mtrec_ray.seqrec.recommender import SeqRecRecommender

        return SeqRecRecommender.load(spec[len("seqrec:") :], name=label)
    if ":" in spec:
        import importlib

        mod, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot load recommender {spec!r}: {exc}") from exc
        rec = factory(n_items=n_items, popularity=popularity, seed=seed)
        if not isinstance(rec, Recommender):
            raise ConfigError(
                f"{spec!r} returned {type(rec).__name__}, which lacks name/recommend(histories, k)"
            )
        return rec
    raise ConfigError(
        f"unknown recommender {spec!r}; use random, popularity, policy:RUN_DIR, seqrec:DIR or module.path:Factory"
    )

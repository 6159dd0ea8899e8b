"""``SeqRecRecommender``: a trained SASRec / GRU4Rec behind the ``Recommender`` interface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mtrec_ray.recommenders import PAD, Histories
from mtrec_ray.seqrec.train import TrainedSeqRec


class SeqRecRecommender:
    """Top-k items by the model's next-item scores for each history.

    Reads only ``histories.items`` (consumed items, oldest first, ``PAD`` on the left);
    the last ``max_len`` of them are the model's input. Deterministic (``rng`` unused).
    """

    def __init__(
        self,
        *,
        trained: TrainedSeqRec,
        name: str | None = None,
        exclude_history: bool = True,
        batch_size: int = 4096,
    ) -> None:
        """Wrap a trained model.

        Args:
            trained: the model (``train_seqrec`` or ``TrainedSeqRec.load``).
            name: label for reports (default: the model kind, ``mtrec-`` prefixed when
                reward-weighted).
            exclude_history: never recommend an item already in the history window.
            batch_size: users scored per forward pass.
        """
        self.trained = trained
        cfg = trained.config
        self.name = name or (f"mtrec-{cfg.model}" if cfg.reward.enabled else cfg.model)
        self.exclude_history = exclude_history
        self.batch_size = batch_size
        self.n_items = trained.n_items

    @classmethod
    def load(cls, directory: str | Path, **kwargs: object) -> SeqRecRecommender:
        """Load a ``TrainedSeqRec.save`` artifact and wrap it (kwargs as the constructor)."""
        return cls(trained=TrainedSeqRec.load(directory), **kwargs)  # type: ignore[arg-type]  # kwargs mirror __init__

    def recommend(
        self, histories: Histories, k: int, *, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Return int64 item ids ``[B, k]``, best first, distinct within a row."""
        if not 1 <= k <= self.n_items:
            raise ValueError(f"k must be in 1..{self.n_items} (the catalogue size), got {k}")
        items = histories.items[:, -self.trained.config.max_len :]
        if items.size and (items.max() >= self.n_items or items.min() < PAD):
            raise ValueError(f"history item ids must be in 0..{self.n_items - 1} or {PAD} (padding)")
        model_items = np.where(items == PAD, self.n_items, items)
        out = []
        for s in range(0, len(model_items), self.batch_size):
            x = torch.as_tensor(model_items[s : s + self.batch_size])
            scores = self.trained.score_histories(x)
            if self.exclude_history:
                seen = x.to(scores.device)
                scores = torch.cat([scores, scores.new_zeros(len(x), 1)], dim=1)
                scores.scatter_(1, seen, float("-inf"))
                scores = scores[:, : self.n_items]
            out.append(torch.topk(scores, k, dim=1).indices.cpu().numpy().astype(np.int64))
        return np.concatenate(out) if out else np.zeros((0, k), np.int64)

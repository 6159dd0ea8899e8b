"""Full-ranking offline metrics for next-item recommendation (leave-one-out).

Protocol (the one used for every offline number in mtrec-ray):

- **Leave-one-out**: per user, the last consumed event is the test target, the
  second-last the validation target; the history is everything before the target
  (train + valid events for test), the model sees its last ``max_len`` items.
- **Full ranking**: the target is ranked against *every* item of the catalogue, no
  sampled negatives; the padding item is never a candidate.
- **History is not masked** by default (``mask_history=False``): items the user already
  consumed stay candidates, as in the common SASRec / RecBole full-ranking protocol for
  sequential models. ``mask_history=True`` removes them (never the target itself).
- **Ties count against the target**: its 0-based rank is the number of *other* items
  scoring at least as high, so a constant scorer gets no credit.
- Metrics per user, averaged over users: ``hr@K`` (target in the top K), ``ndcg@K``
  (``1 / log2(rank + 2)`` inside the top K; one relevant item, so the ideal DCG is 1)
  and ``mrr@K`` (``1 / (rank + 1)`` inside the top K).
- With explicit labels (``label_rating`` on MovieLens, read only here), the same metrics
  restricted to targets rated 4-5 (``rated_4_5/...``) and rated 1-2 (``rated_1_2/...``).

Everything is vectorised in torch over a batch of users, on CPU or GPU.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from mtrec_ray.seqrec.data import SeqData

DEFAULT_KS: tuple[int, ...] = (10, 20)
"""Cut-offs for HR@K and NDCG@K."""
DEFAULT_MRR_KS: tuple[int, ...] = (10,)
"""Cut-offs for MRR@K."""
RATING_GROUPS: dict[str, tuple[float, float]] = {"rated_4_5": (4.0, 5.0), "rated_1_2": (1.0, 2.0)}
"""Label groups (inclusive rating ranges) reported when ``label_rating`` exists."""


def target_ranks(scores: Tensor, targets: Tensor, *, exclude: Tensor | None = None) -> Tensor:
    """0-based rank of each target among all items (ties count against the target).

    Args:
        scores: ``(B, n_items)`` scores, higher is better.
        targets: ``(B,)`` target item ids.
        exclude: optional ``(B, n_items)`` bool, True for items removed from the ranking
            (the target itself is never removed).

    Returns:
        ``(B,)`` int64 ranks; 0 means the target scored strictly highest.
    """
    targets = targets.to(device=scores.device, dtype=torch.long)
    target_scores = scores.gather(1, targets[:, None])
    at_least = scores >= target_scores
    if exclude is not None:
        keep = ~exclude.to(scores.device)
        keep.scatter_(1, targets[:, None], True)
        at_least &= keep
    return at_least.sum(dim=1) - 1


def metrics_from_ranks(
    ranks: Tensor, *, ks: Sequence[int] = DEFAULT_KS, mrr_ks: Sequence[int] = DEFAULT_MRR_KS
) -> dict[str, Tensor]:
    """Per-user metric values ``(B,)`` from 0-based target ranks."""
    r = ranks.to(torch.float64)
    out: dict[str, Tensor] = {}
    for k in ks:
        hit = ranks < k
        out[f"hr@{k}"] = hit.to(torch.float64)
        out[f"ndcg@{k}"] = torch.where(hit, 1.0 / torch.log2(r + 2.0), torch.zeros_like(r))
    for k in mrr_ks:
        out[f"mrr@{k}"] = torch.where(ranks < k, 1.0 / (r + 1.0), torch.zeros_like(r))
    return out


def summarize_ranks(
    ranks: Tensor,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    mrr_ks: Sequence[int] = DEFAULT_MRR_KS,
    groups: dict[str, Tensor] | None = None,
) -> dict[str, float]:
    """Mean metrics over users, plus the same restricted to each bool mask in ``groups``.

    Keys: ``hr@10``, ``ndcg@10``, ..., ``n_users``; for a group ``g``: ``g/hr@10``, ...,
    ``g/n_users`` (metrics are NaN for an empty group).
    """
    per_user = metrics_from_ranks(ranks, ks=ks, mrr_ks=mrr_ks)
    out: dict[str, float] = {name: float(v.mean()) if v.numel() else float("nan") for name, v in per_user.items()}
    out["n_users"] = int(ranks.numel())
    for gname, mask in (groups or {}).items():
        m = mask.to(device=ranks.device, dtype=torch.bool)
        n = int(m.sum())
        for name, v in per_user.items():
            out[f"{gname}/{name}"] = float(v[m].mean()) if n else float("nan")
        out[f"{gname}/n_users"] = n
    return out


def _history_mask(sequences: list[np.ndarray], upto: np.ndarray, n_items: int, device: Any) -> Tensor:
    """``(B, n_items)`` bool: items among ``sequences[i][:upto[i]]`` (the user's full history)."""
    rows = np.concatenate([np.full(int(u), i) for i, u in enumerate(upto)]) if len(upto) else np.zeros(0, int)
    cols = np.concatenate([s[: int(u)] for s, u in zip(sequences, upto, strict=True)]) if len(upto) else rows
    mask = torch.zeros((len(upto), n_items), dtype=torch.bool, device=device)
    if rows.size:
        mask[torch.as_tensor(rows, device=device), torch.as_tensor(cols, device=device)] = True
    return mask


def rank_targets(
    model: Any,
    data: SeqData,
    split: str = "test",
    *,
    batch_size: int = 1024,
    device: str | torch.device | None = None,
    mask_history: bool = False,
) -> tuple[Tensor, np.ndarray]:
    """Full-ranking 0-based ranks of the ``split`` targets of every evaluable user.

    Args:
        model: anything with ``score_histories(items (B, L) int64 right-aligned, padding =
            data.n_items) -> (B, n_items)`` (a ``TrainedSeqRec``, a bare SASRec/GRU4Rec).
        data: sequences built by ``mtrec_ray.seqrec.data.build_sequences``.
        split: ``valid`` or ``test``.
        batch_size: users per scoring batch.
        device: where to score (default: the model's device).
        mask_history: drop items of the user's history from the ranking.

    Returns:
        ``(ranks (U,), row indices into data.sequences (U,))``.
    """
    split_data = data.split(split)
    dev = torch.device(device) if device is not None else _model_device(model)
    ranks = []
    for start in range(0, len(split_data.targets), batch_size):
        sl = slice(start, start + batch_size)
        hist = torch.as_tensor(split_data.histories[sl], device=dev)
        scores = model.score_histories(hist)
        exclude = None
        if mask_history:
            exclude = _history_mask(
                [data.sequences[i] for i in split_data.rows[sl]], split_data.positions[sl], data.n_items, dev
            )
        ranks.append(target_ranks(scores, torch.as_tensor(split_data.targets[sl], device=dev), exclude=exclude).cpu())
    all_ranks = torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.long)
    return all_ranks, split_data.rows


def _model_device(model: Any) -> torch.device:
    dev = getattr(model, "device", None)
    if isinstance(dev, torch.device):
        return dev
    params = getattr(model, "parameters", None)
    if callable(params):
        for p in params():
            return p.device
    return torch.device("cpu")


def evaluate_ranking(
    model: Any,
    data: SeqData | Any,
    split: str = "test",
    *,
    ks: Sequence[int] = DEFAULT_KS,
    mrr_ks: Sequence[int] = DEFAULT_MRR_KS,
    batch_size: int = 1024,
    device: str | torch.device | None = None,
    mask_history: bool = False,
) -> dict[str, float]:
    """Leave-one-out full-ranking metrics of ``model`` on ``split`` (see the module docstring).

    Args:
        model: a ``TrainedSeqRec`` or anything with ``score_histories`` (see ``rank_targets``).
        data: ``SeqData``, or canonical events / a loaded dataset (sequences are built with
            the model's ``config.max_len``, else 50).
        split: ``valid`` or ``test``.
        ks: cut-offs of HR and NDCG.
        mrr_ks: cut-offs of MRR.
        batch_size: users per scoring batch.
        device: where to score (default: the model's device).
        mask_history: remove the user's already-consumed items from the ranking.

    Returns:
        ``hr@10``, ``hr@20``, ``ndcg@10``, ``ndcg@20``, ``mrr@10``, ``n_users``,
        ``eval_seconds``; when the data carries a ``rating`` label for the split's targets,
        also ``rated_4_5/...`` and ``rated_1_2/...``.
    """
    if split not in ("valid", "test"):
        raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
    if not hasattr(data, "split"):  # canonical events or a loaded dataset
        from mtrec_ray.seqrec.data import build_sequences

        max_len = getattr(getattr(model, "config", None), "max_len", 50)
        data = build_sequences(data, max_len=max_len)
    was_training = bool(getattr(model, "training", False))
    if hasattr(model, "eval"):
        model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        ranks, _ = rank_targets(
            model, data, split, batch_size=batch_size, device=device, mask_history=mask_history
        )
    elapsed = time.perf_counter() - t0
    if was_training and hasattr(model, "train"):
        model.train()
    groups: dict[str, Tensor] = {}
    rating = data.split(split).labels.get("rating")
    if rating is not None:
        r = torch.as_tensor(np.asarray(rating, dtype=np.float64))
        for name, (lo, hi) in RATING_GROUPS.items():
            groups[name] = (r >= lo) & (r <= hi)
    out = summarize_ranks(ranks, ks=ks, mrr_ks=mrr_ks, groups=groups)
    out["eval_seconds"] = elapsed
    return out

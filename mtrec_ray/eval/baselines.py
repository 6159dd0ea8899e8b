"""Per-event baselines a practitioner would use instead of a learned mental reward.

All baselines see the same inputs as QR-IQL -- the history state (same encoder
family and width), the item, and the observable nuisances (log duration, position) --
train with the same optimiser, batch size and item L2, and stop early on their own
validation loss (other users). At scoring time nuisances are those of the candidate
item at slate position 0.

* **click model**: P(click) of every exposure (binary cross-entropy).
* **watch-time model**: expected watch time, tuned over the target transform
  (``raw``, ``log1p``, ``rank``: the training percentile) picked by the lowest
  validation loss relative to the target's variance (1 - R^2, comparable across
  transforms). Two row sets: per play (consumed items, as duration-aware watch-time
  regressions are trained) and per impression (0 when not clicked, as YouTube-style
  expected-watch-time ranking does).
* **engagement model**: one multi-task network predicting click (exposures), watch
  time (plays, the watch model's best transform) and going on after a consumption;
  it ranks by the sum of the three standardised predictions (logit of click,
  transformed watch, logit of going on), as multi-signal ranking systems do.
* **popularity**: how often the item was consumed in training.

Each model: ``pred_t(s, x, z) = <u(s), e_x> + b_{x,t} + MLP_t([u(s) * e_x, z])``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mtrec_ray.irl.data import EventTable, FeatureSpec
from mtrec_ray.models.encoders import EncoderKind, HistoryEncoder

Transform = Literal["raw", "log1p", "rank"]
TRANSFORMS: tuple[Transform, ...] = ("raw", "log1p", "rank")


@dataclass
class BaselineConfig:
    """Training of the per-event baselines (matches the IRL defaults)."""

    encoder: EncoderKind = "mean"
    """History encoder kind (as the reward model)."""
    dim: int = 16
    """Embedding and state width (as the reward model)."""
    max_history: int = 20
    """History length L."""
    hidden: int = 32
    """Hidden width of the per-task MLP."""
    lr: float = 1e-2
    """Adam learning rate."""
    l2_items: float = 1e-4
    """L2 penalty on the item embeddings of a batch."""
    batch_size: int = 1024
    """Rows per step."""
    epochs: int = 15
    """Maximum epochs."""
    patience: int = 3
    """Epochs without a better validation loss before stopping."""
    max_rows_per_epoch: int = 200_000
    """Rows sampled per epoch (large exposure tables are subsampled each epoch)."""
    seed: int = 0
    """Seed."""
    device: str = "cpu"
    """Torch device."""


class PerEventModel(nn.Module):
    """History encoder + item embeddings + per-task heads with nuisance inputs."""

    def __init__(self, *, spec: FeatureSpec, config: BaselineConfig, n_tasks: int) -> None:
        super().__init__()
        d = config.dim
        self.spec = spec
        self.encoder = HistoryEncoder(
            kind=config.encoder, n_items=spec.n_items, dim=d, n_features=spec.n_history_features,
            max_len=config.max_history,
        )
        self.items = nn.Embedding(spec.n_items + 1, d, padding_idx=spec.n_items)
        nn.init.normal_(self.items.weight, std=0.1)
        self.bias = nn.Embedding(spec.n_items + 1, n_tasks, padding_idx=spec.n_items)
        nn.init.zeros_(self.bias.weight)
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(d + spec.n_nuisance, config.hidden), nn.ReLU(), nn.Linear(config.hidden, 1))
            for _ in range(n_tasks)
        )
        self.offset = nn.Parameter(torch.zeros(n_tasks))

    def forward(self, hist_items: Tensor, hist_feats: Tensor, items: Tensor, nuis: Tensor) -> Tensor:
        """Predictions ``(..., T)`` for items ``(B,)`` or ``(B, C)`` with nuisances ``(..., Z)``."""
        u = self.encoder(hist_items, hist_feats)
        if items.dim() == 2:
            u = u.unsqueeze(1).expand(-1, items.shape[1], -1)
        e = self.items(items)
        dot = (u * e).sum(-1, keepdim=True)
        x = torch.cat([u * e, nuis], dim=-1)
        heads = torch.cat([h(x) for h in self.heads], dim=-1)
        return dot + self.bias(items) + heads + self.offset


@dataclass
class Rows:
    """Training rows of a baseline: which event (state), item, nuisances, targets."""

    event: np.ndarray
    """Event row of the state (R,)."""
    item: np.ndarray
    """Item (R,)."""
    nuis: np.ndarray
    """Nuisances (R, Z)."""
    targets: np.ndarray
    """Targets (R, T); NaN where a task has no label for the row."""


def exposure_rows(events: EventTable) -> tuple[np.ndarray, np.ndarray]:
    """Event index and slate position of every real exposure."""
    e, k = np.nonzero(events.slate_mask)
    return e.astype(np.int64), k.astype(np.int64)


class TargetTransform:
    """A monotone target transform fitted on training targets."""

    def __init__(self, kind: Transform, train_values: np.ndarray) -> None:
        self.kind = kind
        self.sorted = np.sort(train_values)
        y = self._raw(train_values)
        self.mean, self.std = float(y.mean()), float(max(y.std(), 1e-8))

    def _raw(self, v: np.ndarray) -> np.ndarray:
        if self.kind == "raw":
            return v.astype(np.float64)
        if self.kind == "log1p":
            return np.log1p(np.maximum(v, 0.0))
        lo = np.searchsorted(self.sorted, v, side="left")
        hi = np.searchsorted(self.sorted, v, side="right")
        return (lo + hi) / (2.0 * max(self.sorted.size, 1))

    def __call__(self, v: np.ndarray) -> np.ndarray:
        """Standardised transformed targets."""
        return (self._raw(v) - self.mean) / self.std


@dataclass
class FitResult:
    """A fitted baseline."""

    model: PerEventModel
    """Best-validation weights."""
    valid_loss: list[float] = field(default_factory=list)
    """Per-task validation loss at the best epoch (MSE on standardised targets, BCE)."""
    epochs: int = 0
    """Epochs run."""


def _state(events: dict[str, Tensor], ev: Tensor) -> tuple[Tensor, Tensor]:
    return events["hist_items"][ev], events["hist_feats"][ev]


def _task_losses(pred: Tensor, targets: Tensor, kinds: list[str]) -> list[Tensor]:
    out = []
    for t, kind in enumerate(kinds):
        y = targets[:, t]
        ok = ~torch.isnan(y)
        if not ok.any():
            out.append(pred.new_zeros(()))
            continue
        p = pred[ok, t]
        yy = y[ok]
        out.append(F.binary_cross_entropy_with_logits(p, yy) if kind == "bce" else F.mse_loss(p, yy))
    return out


def fit_per_event(
    train_events: EventTable,
    train_rows: Rows,
    valid_events: EventTable,
    valid_rows: Rows,
    *,
    spec: FeatureSpec,
    kinds: list[str],
    config: BaselineConfig,
) -> FitResult:
    """Train a (multi-task) per-event model with early stopping on validation loss.

    Args:
        kinds: per task, ``bce`` (binary) or ``mse`` (standardised regression).
    """
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    model = PerEventModel(spec=spec, config=config, n_tasks=len(kinds)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    te = {k: torch.as_tensor(getattr(train_events, k), device=device) for k in ("hist_items", "hist_feats")}
    ve = {k: torch.as_tensor(getattr(valid_events, k), device=device) for k in ("hist_items", "hist_feats")}

    def tensors(rows: Rows) -> dict[str, Tensor]:
        return {
            "event": torch.as_tensor(rows.event, device=device),
            "item": torch.as_tensor(rows.item, device=device),
            "nuis": torch.as_tensor(rows.nuis, dtype=torch.float32, device=device),
            "targets": torch.as_tensor(rows.targets, dtype=torch.float32, device=device),
        }

    tr, va = tensors(train_rows), tensors(valid_rows)
    gen = torch.Generator().manual_seed(config.seed)
    n = tr["event"].shape[0]
    best, best_state, bad, best_parts, epochs = math.inf, copy.deepcopy(model.state_dict()), 0, [], 0
    for _epoch in range(config.epochs):
        epochs += 1
        model.train()
        perm = torch.randperm(n, generator=gen)[: config.max_rows_per_epoch].to(device)
        for start in range(0, perm.numel(), config.batch_size):
            idx = perm[start : start + config.batch_size]
            hi, hf = _state(te, tr["event"][idx])
            pred = model(hi, hf, tr["item"][idx], tr["nuis"][idx])
            loss = sum(_task_losses(pred, tr["targets"][idx], kinds))
            emb = model.items(tr["item"][idx])
            loss = loss + config.l2_items * (emb**2).sum(-1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[union-attr]
            opt.step()
        parts = evaluate_per_event(model, ve, va, kinds)
        total = float(sum(parts))
        if total < best - 1e-6:
            best, best_state, bad, best_parts = total, copy.deepcopy(model.state_dict()), 0, parts
        else:
            bad += 1
            if bad >= config.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(model=model, valid_loss=best_parts, epochs=epochs)


@torch.no_grad()
def evaluate_per_event(
    model: PerEventModel, events: dict[str, Tensor], rows: dict[str, Tensor], kinds: list[str], chunk: int = 16384
) -> list[float]:
    """Per-task mean validation loss."""
    model.eval()
    sums = [0.0] * len(kinds)
    counts = [0] * len(kinds)
    n = rows["event"].shape[0]
    for start in range(0, n, chunk):
        sl = slice(start, start + chunk)
        hi, hf = _state(events, rows["event"][sl])
        pred = model(hi, hf, rows["item"][sl], rows["nuis"][sl])
        y = rows["targets"][sl]
        for t, part in enumerate(_task_losses(pred, y, kinds)):
            m = int((~torch.isnan(y[:, t])).sum())
            sums[t] += float(part) * m
            counts[t] += m
    model.train()
    return [s / max(c, 1) for s, c in zip(sums, counts, strict=True)]


@torch.no_grad()
def predict_pairs(
    model: PerEventModel, hist_items: np.ndarray, hist_feats: np.ndarray, items: np.ndarray, nuis: np.ndarray,
    *, chunk: int = 4096,
) -> np.ndarray:
    """Predictions ``(P, C, T)`` for states and candidate items (on the model's device)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for s in range(0, hist_items.shape[0], chunk):
        sl = slice(s, s + chunk)
        out.append(
            model(
                torch.as_tensor(hist_items[sl], device=device),
                torch.as_tensor(hist_feats[sl], dtype=torch.float32, device=device),
                torch.as_tensor(items[sl], device=device),
                torch.as_tensor(nuis[sl], dtype=torch.float32, device=device),
            ).cpu().numpy()
        )
    return np.concatenate(out)


def click_rows(events: EventTable) -> Rows:
    """Every exposure with its click label."""
    e, k = exposure_rows(events)
    y = (events.clicked[e] == k).astype(np.float32)
    return Rows(event=e, item=events.slate_items[e, k], nuis=events.slate_nuis[e, k], targets=y[:, None])


def watch_rows(events: EventTable, transform: TargetTransform, *, per_impression: bool) -> Rows:
    """Watch-time rows: plays only, or every exposure (0 seconds when not clicked)."""
    if per_impression:
        e, k = exposure_rows(events)
        wt = np.where(events.clicked[e] == k, events.watch_time[e], 0.0)
        return Rows(event=e, item=events.slate_items[e, k], nuis=events.slate_nuis[e, k], targets=transform(wt)[:, None].astype(np.float32))
    e = np.flatnonzero(events.clicked >= 0)
    return Rows(event=e, item=events.item[e], nuis=events.nuis[e], targets=transform(events.watch_time[e])[:, None].astype(np.float32))


def engagement_rows(events: EventTable, transform: TargetTransform) -> Rows:
    """Multi-task rows: click on exposures; watch and going on for plays."""
    e, k = exposure_rows(events)
    y = np.full((e.size, 3), np.nan, dtype=np.float32)
    y[:, 0] = (events.clicked[e] == k).astype(np.float32)
    play = events.clicked[e] == k
    y[play, 1] = transform(events.watch_time[e[play]])
    y[play, 2] = (~events.leave[e[play]]).astype(np.float32)
    return Rows(event=e, item=events.slate_items[e, k], nuis=events.slate_nuis[e, k], targets=y)


def popularity(events: EventTable, n_items: int) -> np.ndarray:
    """Training consumption count of every item."""
    it = events.item[events.clicked >= 0]
    return np.bincount(it, minlength=n_items + 1)[:n_items].astype(np.float64)


def standardise(x: np.ndarray) -> np.ndarray:
    """Z-score over all entries."""
    return (x - x.mean()) / max(float(x.std()), 1e-12)

"""Using a learned mental reward model: score (history, item) pairs anywhere.

``MentalRewardScorer`` wraps the ``MentalRewardModel`` artifact written by ``mtrec irl``
with the feature constants it was trained with, so any component that holds
recommender-side ``Histories`` (the simulators, the A/B test, the sequential
recommenders) can ask for the mental reward distribution of candidate items:

* ``distribution(histories, items[B, C]) -> RewardScores`` (quantiles, mean, std, CVaR);
* ``score(histories, items[B]) -> mean [B]`` and ``as_reward_function()``: the reward
  of the simulators (``reward: mental:MODEL_DIR``);
* ``reward_fn(histories, targets)`` -> ``(mean, cvar, quantiles)``: the per-target
  weights of the MTRec sequential recommenders.

The history features are built exactly as in training (``mtrec_ray.irl.data``): per
consumed item its watch ratio, its logit / 4 and its standardised log duration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mtrec_ray.errors import ArtifactError
from mtrec_ray.irl.data import FeatureSpec
from mtrec_ray.models.quantile import quantile_cvar, quantile_mean, quantile_std
from mtrec_ray.models.reward_model import MentalRewardModel


class MentalRewardScorer:
    """A mental reward model plus what it needs to read recommender-side histories."""

    requires_true_satisfaction = False

    def __init__(
        self,
        *,
        model: MentalRewardModel,
        spec: FeatureSpec,
        item_log_duration: np.ndarray | None = None,
        cvar_alpha: float = 0.1,
        device: str = "cpu",
    ) -> None:
        self.model = model.to(device).eval()
        self.spec = spec
        self.device = device
        self.cvar_alpha = float(cvar_alpha)
        self.name = "mental"
        n = spec.n_items
        ld = np.zeros(n, np.float32) if item_log_duration is None else np.asarray(item_log_duration, np.float32)
        self.item_feature = (ld - spec.log_duration_mean) / spec.log_duration_std
        self.item_feature = np.append(self.item_feature, 0.0).astype(np.float32)  # padding row

    @classmethod
    def load(cls, directory: str | Path, *, device: str = "cpu", cvar_alpha: float = 0.1) -> MentalRewardScorer:
        """Load ``mtrec irl``'s ``model/`` artifact (weights-only) with its feature constants."""
        model = MentalRewardModel.load(directory, map_location=device)
        meta = model.metadata
        if "feature_spec" not in meta:
            raise ArtifactError(
                f"{directory} holds a reward model without its feature constants "
                "(metadata.feature_spec); train it with `mtrec irl`"
            )
        spec = FeatureSpec(**meta["feature_spec"])
        ld = meta.get("item_log_duration")
        return cls(
            model=model, spec=spec, item_log_duration=None if ld is None else np.asarray(ld, np.float32),
            cvar_alpha=cvar_alpha, device=device,
        )

    # ----------------------------------------------------------------- features

    def history_inputs(self, items: np.ndarray, watch_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model inputs from left-padded histories (``-1`` pads, oldest first)."""
        spec = self.spec
        L, n = spec.max_history, spec.n_items
        items = np.asarray(items, np.int64)
        wr = np.asarray(watch_ratio, np.float32).reshape(items.shape)
        b, h = items.shape
        if h >= L:
            items, wr = items[:, h - L :], wr[:, h - L :]
        else:
            items = np.concatenate([np.full((b, L - h), -1, np.int64), items], axis=1)
            wr = np.concatenate([np.zeros((b, L - h), np.float32), wr], axis=1)
        valid = (items >= 0) & (items < n)
        hist_items = np.where(valid, items, n)
        feats = np.zeros((b, L, spec.n_history_features), np.float32)
        if spec.has_watch:
            r = np.clip(wr, 1e-3, 1 - 1e-3)
            feats[..., 0] = wr
            feats[..., 1] = np.log(r / (1 - r)) / 4.0
            feats[..., 2] = self.item_feature[hist_items]
        else:
            feats[..., 0] = 1.0
        feats[~valid] = 0.0
        return hist_items, feats

    def distribution(self, histories: Any, items: np.ndarray) -> dict[str, np.ndarray]:
        """Quantiles ``(B, C, N)``, mean, std and CVaR ``(B, C)`` of candidate items."""
        hist_items, feats = self.history_inputs(histories.items, histories.watch_ratio)
        cand = np.asarray(items, np.int64)
        if cand.ndim == 1:
            cand = cand[:, None]
        with torch.no_grad():
            q = self.model(
                torch.as_tensor(hist_items, device=self.device),
                torch.as_tensor(feats, device=self.device),
                torch.as_tensor(np.clip(cand, 0, self.spec.n_items - 1), device=self.device),
            )
            out = {
                "quantiles": q.cpu().numpy(),
                "mean": quantile_mean(q).cpu().numpy(),
                "std": quantile_std(q).cpu().numpy(),
                "cvar": quantile_cvar(q, self.cvar_alpha).cpu().numpy(),
            }
        return out

    def score(self, histories: Any, items: np.ndarray) -> np.ndarray:
        """Mean mental reward of one item per history: ``[B]``."""
        return self.distribution(histories, np.asarray(items, np.int64).reshape(-1, 1))["mean"][:, 0]

    def as_reward_function(self) -> Any:
        """The simulators' reward: the consumed item's mean mental reward (0 without a click)."""
        from mtrec_ray.rl.rewards import ItemScoreReward

        return ItemScoreReward(self, name="mental")

    def reward_fn(self, histories: Any, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(mean, cvar, quantiles)`` of each target in its state (MTRec loss weights)."""
        d = self.distribution(histories, np.asarray(targets, np.int64).reshape(-1, 1))
        return d["mean"][:, 0], d["cvar"][:, 0], d["quantiles"][:, 0]


def item_log_duration(events: pd.DataFrame, n_items: int) -> np.ndarray | None:
    """Per-item median log duration from logs (observable item metadata), or None."""
    if "duration" not in events.columns:
        return None
    med = np.log(np.maximum(events.groupby("item_id")["duration"].median(), 1e-3))
    out = np.full(n_items, float(np.median(med)) if len(med) else 0.0, np.float32)
    out[med.index.to_numpy()] = med.to_numpy(np.float32)
    return out


def score_dataset(
    model_dir: str | Path,
    data_dir: str | Path,
    *,
    items: list[int] | None = None,
    cvar_alpha: float = 0.1,
    limit: int | None = None,
) -> pd.DataFrame:
    """Score every logged consumption (or the given candidate items) in its state.

    Returns one row per (event, item) with user_id, item_id, timestamp, mean, std, cvar
    and the quantiles as ``q0..q{N-1}``. Refuses a model trained on another catalogue.
    """
    from mtrec_ray.data.dataset import load_dataset
    from mtrec_ray.data.schema import sort_events
    from mtrec_ray.models.reward_model import catalogue_fingerprint
    from mtrec_ray.recommenders import Histories

    scorer = MentalRewardScorer.load(model_dir, cvar_alpha=cvar_alpha)
    ds = load_dataset(data_dir)
    keys = ds.item_map.sort_values("item_id").iloc[:, -1].tolist()
    if catalogue_fingerprint(keys) != scorer.model.item_fingerprint:
        raise ArtifactError(
            f"the model in {model_dir} was trained on another item catalogue than {data_dir} "
            f"({scorer.model.item_fingerprint} != {catalogue_fingerprint(keys)})"
        )
    ev = sort_events(ds.events)
    consumed = ev[ev["click"] == 1] if "click" in ev.columns else ev
    consumed = consumed.reset_index(drop=True)
    L = scorer.spec.max_history
    # Histories before each consumption: the user's previous L consumptions (vectorised).
    user = consumed["user_id"].to_numpy()
    item = consumed["item_id"].to_numpy(np.int64)
    wr = consumed["watch_ratio"].to_numpy(np.float32) if "watch_ratio" in consumed else np.ones(len(consumed), np.float32)
    first = np.searchsorted(user, user, side="left")
    idx = np.arange(len(consumed))[:, None] - L + np.arange(L)[None, :]
    valid = idx >= first[:, None]
    safe = np.clip(idx, 0, max(len(consumed) - 1, 0))
    hist = Histories(items=np.where(valid, item[safe], -1), watch_ratio=np.where(valid, wr[safe], 0.0))
    rows = np.arange(len(consumed)) if limit is None else np.arange(min(limit, len(consumed)))
    hist = hist.select(rows)
    cand = item[rows][:, None] if items is None else np.tile(np.asarray(items, np.int64), (rows.size, 1))
    d = scorer.distribution(hist, cand)
    b, c = cand.shape
    table = pd.DataFrame({
        "user_id": np.repeat(user[rows], c),
        "item_id": cand.reshape(-1),
        "timestamp": np.repeat(consumed["timestamp"].to_numpy()[rows], c),
        "mean": d["mean"].reshape(-1),
        "std": d["std"].reshape(-1),
        "cvar": d["cvar"].reshape(-1),
    })
    q = d["quantiles"].reshape(b * c, -1)
    for j in range(q.shape[1]):
        table[f"q{j}"] = q[:, j]
    return table

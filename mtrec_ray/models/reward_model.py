"""The mental reward model: the distribution of a user's satisfaction with an item.

``MentalRewardModel`` maps a state (the user's right-aligned history of items and
responses) and candidate items to ``N`` monotone quantiles of the mental reward
``rho(s, x)``. The item enters only through its embedding, the state only through the
history encoder; observable nuisances (duration, position) are *not* inputs, so they
cannot leak into the reward (the IRL behaviour model handles them separately).

Location (the mean) is a collaborative-filtering score ``<u(s), e_x> + b_x + b``; the
shape (spread, skew) comes from a monotone quantile head on ``[e_x, u(s) * e_x]``.

Artifacts: ``save(dir)`` writes ``weights.pt`` (a ``state_dict``, loaded back with
``torch.load(weights_only=True)``, so no arbitrary pickle is ever executed) and
``reward_model.json`` (format version, catalogue size and fingerprint, config,
metadata). ``load`` refuses a different format version or item catalogue.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mtrec_ray.errors import ArtifactError, ConfigError
from mtrec_ray.models.encoders import EncoderKind, HistoryEncoder, ItemEmbedding
from mtrec_ray.models.quantile import (
    MonotoneQuantileHead,
    quantile_cvar,
    quantile_levels,
    quantile_mean,
    quantile_std,
)

FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.pt"
META_FILE = "reward_model.json"


def catalogue_fingerprint(item_keys: Iterable[Any]) -> str:
    """Fingerprint of an item catalogue: sha256 of the raw item keys in dense-id order.

    Args:
        item_keys: the raw id of dense item 0, 1, ... (or just ``range(n_items)``).
    """
    h = hashlib.sha256()
    n = 0
    for key in item_keys:
        h.update(str(key).encode())
        h.update(b"\x1f")
        n += 1
    return f"{n}:{h.hexdigest()[:16]}"


@dataclass
class RewardModelConfig:
    """Architecture of the mental reward model."""

    encoder: EncoderKind = "mean"
    """History encoder: mean (pooled MLP), gru or transformer."""
    dim: int = 16
    """Width of item embeddings and of the state vector."""
    n_quantiles: int = 16
    """Quantiles N of the mental reward; 1 is the non-distributional ablation."""
    max_history: int = 20
    """Most recent events kept in the state."""
    hidden: int = 32
    """Hidden width of the quantile-shape MLP."""
    n_heads: int = 2
    """Attention heads (transformer encoder)."""
    n_layers: int = 1
    """Layers of the GRU / transformer encoder."""
    dropout: float = 0.0
    """Dropout inside the GRU / transformer encoder."""

    def validate(self) -> None:
        """Check ranges; messages say how to fix the value."""
        if self.encoder not in ("mean", "gru", "transformer"):
            raise ConfigError(f"model.encoder must be mean, gru or transformer, got {self.encoder!r}")
        if self.dim < 1 or self.hidden < 1:
            raise ConfigError("model.dim and model.hidden must be >= 1 (try 32)")
        if self.n_quantiles < 1:
            raise ConfigError("model.n_quantiles must be >= 1 (1 = non-distributional)")
        if self.max_history < 1:
            raise ConfigError("model.max_history must be >= 1 (try 20)")
        if self.encoder == "transformer" and self.dim % self.n_heads:
            raise ConfigError(f"model.dim ({self.dim}) must be divisible by model.n_heads ({self.n_heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("model.dropout must be in [0, 1)")


@dataclass
class RewardScores:
    """Distribution summaries for a batch of (state, item) pairs."""

    quantiles: Tensor
    """``(..., N)`` monotone quantiles."""
    mean: Tensor
    """``(...)`` expected mental reward."""
    std: Tensor
    """``(...)`` standard deviation."""
    cvar: Tensor
    """``(...)`` lower-tail CVaR at the requested level."""


class MentalRewardModel(nn.Module):
    """``rho(s, x)``: N quantiles of the mental reward of showing item x in state s."""

    def __init__(
        self,
        *,
        n_items: int,
        n_history_features: int,
        config: RewardModelConfig | None = None,
        item_fingerprint: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Build the model.

        Args:
            n_items: catalogue size; item ids are ``0..n_items-1``.
            n_history_features: per-step response features F of the history.
            config: architecture (defaults if omitted).
            item_fingerprint: ``catalogue_fingerprint`` of the training catalogue.
            metadata: JSON-safe extras stored with the artifact.
        """
        super().__init__()
        self.config = config or RewardModelConfig()
        self.config.validate()
        self.n_items = n_items
        self.n_history_features = n_history_features
        self.item_fingerprint = item_fingerprint or catalogue_fingerprint(range(n_items))
        self.metadata = dict(metadata or {})
        c = self.config
        self.encoder = HistoryEncoder(
            kind=c.encoder, n_items=n_items, dim=c.dim, n_features=n_history_features,
            max_len=c.max_history, n_heads=c.n_heads, n_layers=c.n_layers, dropout=c.dropout,
        )
        self.item_embedding = ItemEmbedding(n_items=n_items, dim=c.dim)
        self.global_bias = nn.Parameter(torch.zeros(()))
        self.head = MonotoneQuantileHead(in_dim=2 * c.dim, n_quantiles=c.n_quantiles, hidden=c.hidden)
        self.register_buffer("taus", quantile_levels(c.n_quantiles), persistent=False)

    @property
    def n_quantiles(self) -> int:
        """Number of quantiles N."""
        return self.config.n_quantiles

    def state(self, hist_items: Tensor, hist_features: Tensor | None = None) -> Tensor:
        """Encode histories ``(B, L)`` (+ features ``(B, L, F)``) into state vectors ``(B, dim)``."""
        return self.encoder(hist_items, hist_features)

    def quantiles_from_state(self, state: Tensor, items: Tensor) -> Tensor:
        """Quantiles for state vectors ``(B, dim)`` and items ``(B,)`` or ``(B, C)``.

        Returns ``(B, N)`` or ``(B, C, N)``.
        """
        emb, bias = self.item_embedding(items)
        u = state if items.dim() == 1 else state.unsqueeze(1)
        loc = (u * emb).sum(dim=-1) + bias + self.global_bias
        shape = torch.cat([emb, u * emb], dim=-1)
        return self.head(loc, shape)

    def mean_from_state(self, state: Tensor, items: Tensor) -> Tensor:
        """Expected mental reward only (the head is centred, so this is the location)."""
        emb, bias = self.item_embedding(items)
        u = state if items.dim() == 1 else state.unsqueeze(1)
        return (u * emb).sum(dim=-1) + bias + self.global_bias

    def forward(self, hist_items: Tensor, hist_features: Tensor | None, items: Tensor) -> Tensor:
        """Quantiles ``(B, N)`` or ``(B, C, N)`` of rho for histories and items ``(B,)``/``(B, C)``."""
        return self.quantiles_from_state(self.state(hist_items, hist_features), items)

    @torch.no_grad()
    def score(
        self, hist_items: Tensor, hist_features: Tensor | None, items: Tensor, *, alpha: float = 0.1
    ) -> RewardScores:
        """Quantiles, mean, std and CVaR at level ``alpha`` (no gradients)."""
        q = self(hist_items, hist_features, items)
        return RewardScores(quantiles=q, mean=quantile_mean(q), std=quantile_std(q), cvar=quantile_cvar(q, alpha))

    def save(self, directory: str | Path) -> Path:
        """Write ``weights.pt`` and ``reward_model.json`` into ``directory``; return it."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        torch.save(state, out / WEIGHTS_FILE)
        meta = {
            "format_version": FORMAT_VERSION,
            "n_items": self.n_items,
            "n_history_features": self.n_history_features,
            "item_fingerprint": self.item_fingerprint,
            "config": dataclasses.asdict(self.config),
            "metadata": self.metadata,
        }
        (out / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        return out

    @classmethod
    def load(
        cls,
        directory: str | Path,
        *,
        expected_fingerprint: str | None = None,
        map_location: str | torch.device = "cpu",
    ) -> MentalRewardModel:
        """Load an artifact written by ``save``.

        Args:
            directory: the artifact folder.
            expected_fingerprint: the catalogue fingerprint of the data it will score;
                a different one raises ``ArtifactError``.
            map_location: device for the weights.

        Raises:
            ArtifactError: missing files, another format version, or another catalogue.
        """
        src = Path(directory)
        meta_path, weights_path = src / META_FILE, src / WEIGHTS_FILE
        if not meta_path.exists() or not weights_path.exists():
            raise ArtifactError(
                f"{src} is not a mental reward model artifact (needs {META_FILE} and {WEIGHTS_FILE})"
            )
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{meta_path} is not valid JSON: {exc}") from None
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise ArtifactError(
                f"{src}: artifact format version {version} is not supported by this code "
                f"(expects {FORMAT_VERSION}); retrain the model with this version of mtrec-ray"
            )
        if expected_fingerprint is not None and meta.get("item_fingerprint") != expected_fingerprint:
            raise ArtifactError(
                f"{src}: trained on item catalogue {meta.get('item_fingerprint')}, but the data has "
                f"catalogue {expected_fingerprint}; item ids would not mean the same items. "
                "Retrain on this data or score the data the model was trained on"
            )
        try:
            config = RewardModelConfig(**meta["config"])
            model = cls(
                n_items=int(meta["n_items"]),
                n_history_features=int(meta["n_history_features"]),
                config=config,
                item_fingerprint=meta["item_fingerprint"],
                metadata=meta.get("metadata", {}),
            )
        except (KeyError, TypeError, ConfigError) as exc:
            raise ArtifactError(f"{meta_path}: malformed artifact metadata ({exc})") from None
        state = torch.load(weights_path, map_location=map_location, weights_only=True)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise ArtifactError(f"{weights_path}: weights do not match the stored config ({exc})") from None
        return model.to(map_location)

"""History encoders and item embeddings.

A user's state is the recent interaction history: item ids ``(B, L)`` and per-step
response features ``(B, L, F)`` (consumed, watch depth...). Histories are
*right-aligned*: the most recent event is the last column, shorter histories are padded
on the left with the padding index ``n_items``. Every encoder maps a history to one
``(B, dim)`` vector and handles empty histories (all padding).

Variants (``kind``): ``mean`` (masked mean pool then MLP), ``gru`` (a GRU over the
valid steps, last hidden state) and ``transformer`` (self-attention with a learned
summary token and positions counted from the most recent step).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

EncoderKind = Literal["mean", "gru", "transformer"]


class ItemEmbedding(nn.Module):
    """Item vectors plus a scalar bias per item; index ``n_items`` is padding (zeros)."""

    def __init__(self, *, n_items: int, dim: int) -> None:
        """Build tables for ``n_items`` items of width ``dim``."""
        super().__init__()
        self.n_items = n_items
        self.vectors = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        self.bias = nn.Embedding(n_items + 1, 1, padding_idx=n_items)
        nn.init.normal_(self.vectors.weight, std=0.1)
        nn.init.zeros_(self.bias.weight)
        with torch.no_grad():
            self.vectors.weight[n_items].zero_()

    def forward(self, items: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(vectors (..., dim), bias (...))`` for item ids of any shape."""
        return self.vectors(items), self.bias(items).squeeze(-1)


class HistoryEncoder(nn.Module):
    """Encode a right-aligned history of items and responses into one vector."""

    def __init__(
        self,
        *,
        kind: EncoderKind,
        n_items: int,
        dim: int,
        n_features: int,
        max_len: int,
        n_heads: int = 2,
        n_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        """Build the encoder.

        Args:
            kind: ``mean``, ``gru`` or ``transformer``.
            n_items: catalogue size (``n_items`` is the padding index).
            dim: width of the step embeddings and of the output.
            n_features: per-step response features F.
            max_len: longest history L (positions for the transformer).
            n_heads: attention heads (transformer).
            n_layers: GRU / transformer layers.
            dropout: dropout inside the GRU / transformer.
        """
        super().__init__()
        if kind not in ("mean", "gru", "transformer"):
            raise ValueError(f"unknown encoder kind {kind!r}; use mean, gru or transformer")
        self.kind = kind
        self.n_items = n_items
        self.dim = dim
        self.max_len = max_len
        self.items = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
        nn.init.normal_(self.items.weight, std=0.1)
        with torch.no_grad():
            self.items.weight[n_items].zero_()
        self.features = nn.Linear(n_features, dim) if n_features > 0 else None
        # responses also gate the item vector: "a liked item of topic v" ~ v * g(response)
        self.gate = nn.Linear(n_features, dim) if n_features > 0 else None
        if self.gate is not None:
            nn.init.zeros_(self.gate.weight)
            nn.init.zeros_(self.gate.bias)
        self.empty = nn.Parameter(torch.zeros(dim))
        if kind == "mean":
            self.body: nn.Module = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        elif kind == "gru":
            self.body = nn.GRU(
                dim, dim, num_layers=n_layers, batch_first=True,
                dropout=dropout if n_layers > 1 else 0.0,
            )
        else:
            layer = nn.TransformerEncoderLayer(
                dim, n_heads, dim_feedforward=2 * dim, dropout=dropout, batch_first=True
            )
            self.body = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
            self.positions = nn.Embedding(max_len + 1, dim)
            self.summary = nn.Parameter(torch.zeros(dim))
            nn.init.normal_(self.positions.weight, std=0.02)

    def step_embeddings(self, items: Tensor, features: Tensor | None) -> Tensor:
        """Per-step vectors ``(B, L, dim)``: ``e_x * (1 + G f) + P f`` for item x, responses f."""
        x = self.items(items)
        if self.features is not None and self.gate is not None and features is not None:
            x = x * (1.0 + self.gate(features)) + self.features(features)
        return x

    def forward(self, items: Tensor, features: Tensor | None = None) -> Tensor:
        """Encode ``items (B, L)`` and ``features (B, L, F)`` into ``(B, dim)``."""
        mask = items != self.n_items
        lengths = mask.sum(dim=1)
        x = self.step_embeddings(items, features) * mask.unsqueeze(-1)
        if self.kind == "mean":
            pooled = x.sum(dim=1) / lengths.clamp_min(1).unsqueeze(-1)
            out = self.body(pooled)
        elif self.kind == "gru":
            out = self._gru(x, lengths)
        else:
            out = self._transformer(x, mask)
        empty = (lengths == 0).unsqueeze(-1)
        return torch.where(empty, self.empty.expand_as(out), out)

    def _gru(self, x: Tensor, lengths: Tensor) -> Tensor:
        length = x.shape[1]
        # Move the valid (right-aligned) steps to the front, then pack.
        shift = (torch.arange(length, device=x.device).unsqueeze(0) + (length - lengths).unsqueeze(1)) % length
        x = torch.gather(x, 1, shift.unsqueeze(-1).expand_as(x))
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False
        )
        _, h = self.body(packed)
        return h[-1]

    def _transformer(self, x: Tensor, mask: Tensor) -> Tensor:
        batch, length, _ = x.shape
        age = torch.arange(length - 1, -1, -1, device=x.device).clamp(max=self.max_len - 1)
        x = x + self.positions(age + 1).unsqueeze(0)
        summary = (self.summary + self.positions.weight[0]).expand(batch, 1, -1)
        x = torch.cat([summary, x], dim=1)
        pad = torch.cat([torch.zeros(batch, 1, dtype=torch.bool, device=x.device), ~mask], dim=1)
        out = self.body(x, src_key_padding_mask=pad)
        return out[:, 0]

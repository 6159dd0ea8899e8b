"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018).

Architecture, as in the authors' reference code:

- input: item embedding times ``sqrt(dim)`` plus a learned position embedding (positions
  counted in the right-aligned window, the most recent item at the last position),
  dropout, padding positions zeroed;
- ``num_blocks`` blocks of: ``q = LayerNorm(x)``; causal multi-head self-attention of
  ``q`` over ``x`` (no attention to later positions or to padding keys); ``x = q + attn``;
  ``y = LayerNorm(x)``; ``x = y + FFN(y)`` (two position-wise linear layers, ReLU,
  dropout; the residual adds the normalised input, as in the reference code);
  padding positions zeroed again;
- a final LayerNorm; the score of item ``i`` at position ``t`` is ``<h_t, E_i>`` with the
  *shared* input item embeddings ``E`` (the padding row is never scored).

Sequences are right-aligned (most recent item last) and left-padded with ``n_items``.
The training objective (cross-entropy over the full catalogue at every position) lives in
``mtrec_ray.seqrec.train``; this module is the network only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtrec_ray.errors import ConfigError


@dataclass
class SASRecConfig:
    """SASRec architecture."""

    dim: int = 64
    """Width of item/position embeddings and of every block."""
    num_blocks: int = 2
    """Self-attention blocks."""
    num_heads: int = 1
    """Attention heads per block (must divide dim)."""
    dropout: float = 0.5
    """Dropout on embeddings, attention weights and feed-forward layers (0.5: small data)."""

    def validate(self) -> None:
        """Check ranges; messages say how to fix the value."""
        if self.dim < 1 or self.num_blocks < 1 or self.num_heads < 1:
            raise ConfigError("sasrec.dim, sasrec.num_blocks and sasrec.num_heads must be >= 1")
        if self.dim % self.num_heads:
            raise ConfigError(f"sasrec.num_heads ({self.num_heads}) must divide sasrec.dim ({self.dim})")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("sasrec.dropout must be in [0, 1)")


class CausalSelfAttention(nn.Module):
    """Multi-head attention of queries ``q`` over keys/values ``x`` with a boolean mask."""

    def __init__(self, *, dim: int, num_heads: int, dropout: float) -> None:
        """Projections for ``num_heads`` heads of width ``dim // num_heads``."""
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, q: Tensor, x: Tensor, allowed: Tensor) -> Tensor:
        """Attend; ``allowed`` is ``(B, 1, L, L)`` bool, True where query t may see key s."""
        b, length, dim = x.shape
        h = self.num_heads

        def heads(t: Tensor) -> Tensor:
            return t.view(b, length, h, dim // h).transpose(1, 2)

        att = F.scaled_dot_product_attention(
            heads(self.q(q)),
            heads(self.k(x)),
            heads(self.v(x)),
            attn_mask=allowed,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out(att.transpose(1, 2).reshape(b, length, dim))


class SASRecBlock(nn.Module):
    """One SASRec block: pre-norm causal attention and a point-wise feed-forward net."""

    def __init__(self, *, dim: int, num_heads: int, dropout: float) -> None:
        """Build the block."""
        super().__init__()
        self.attn_norm = nn.LayerNorm(dim, eps=1e-8)
        self.attn = CausalSelfAttention(dim=dim, num_heads=num_heads, dropout=dropout)
        self.ffn_norm = nn.LayerNorm(dim, eps=1e-8)
        self.ffn = nn.Sequential(
            nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim, dim), nn.Dropout(dropout)
        )

    def forward(self, x: Tensor, allowed: Tensor, keep: Tensor) -> Tensor:
        """Apply the block; ``keep`` is ``(B, L, 1)``, 0 on padding positions."""
        q = self.attn_norm(x)
        x = q + self.attn(q, x, allowed)
        y = self.ffn_norm(x)
        return (y + self.ffn(y)) * keep


class SASRec(nn.Module):
    """SASRec network: right-aligned item ids ``(B, L)`` -> hidden states ``(B, L, dim)``."""

    def __init__(self, *, n_items: int, max_len: int, config: SASRecConfig | None = None) -> None:
        """Build the network.

        Args:
            n_items: catalogue size; ``n_items`` is the padding id.
            max_len: window length L (number of learned positions).
            config: architecture (defaults if omitted).
        """
        super().__init__()
        self.config = config or SASRecConfig()
        self.config.validate()
        c = self.config
        self.n_items = n_items
        self.max_len = max_len
        self.item_emb = nn.Embedding(n_items + 1, c.dim, padding_idx=n_items)
        self.pos_emb = nn.Embedding(max_len, c.dim)
        self.emb_dropout = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            SASRecBlock(dim=c.dim, num_heads=c.num_heads, dropout=c.dropout) for _ in range(c.num_blocks)
        )
        self.final_norm = nn.LayerNorm(c.dim, eps=1e-8)
        for name, p in self.named_parameters():
            if p.dim() > 1:
                nn.init.xavier_normal_(p)
            elif name.endswith("bias") and "norm" not in name:
                nn.init.zeros_(p)
        with torch.no_grad():
            self.item_emb.weight[n_items].zero_()

    def encode(self, seqs: Tensor) -> Tensor:
        """Hidden state at every position, ``(B, L, dim)``; only earlier items are seen."""
        b, length = seqs.shape
        if length > self.max_len:
            raise ValueError(f"sequence length {length} exceeds max_len {self.max_len}")
        valid = seqs != self.n_items
        keep = valid.unsqueeze(-1).to(self.item_emb.weight.dtype)
        pos = torch.arange(self.max_len - length, self.max_len, device=seqs.device)
        x = self.item_emb(seqs) * math.sqrt(self.config.dim) + self.pos_emb(pos)[None]
        x = self.emb_dropout(x) * keep
        idx = torch.arange(length, device=seqs.device)
        causal = idx[None, :] <= idx[:, None]  # (L, L): key s <= query t
        # Padding keys are hidden; a padding query keeps its own key so no row is empty
        # (its output is zeroed and never scored).
        allowed = causal[None] & (valid[:, None, :] | torch.eye(length, dtype=torch.bool, device=seqs.device)[None])
        allowed = allowed.unsqueeze(1)
        for block in self.blocks:
            x = block(x, allowed, keep)
        return self.final_norm(x)

    def item_vectors(self) -> Tensor:
        """Output item embeddings ``(n_items, dim)`` (shared with the input; no padding row)."""
        return self.item_emb.weight[: self.n_items]

    def forward(self, seqs: Tensor, mask: Tensor | None = None) -> Tensor:
        """Scores over the full catalogue.

        Args:
            seqs: ``(B, L)`` right-aligned item ids, padding ``n_items``.
            mask: ``(B, L)`` bool positions to score; None scores the last position.

        Returns:
            ``(N, n_items)`` for the N masked positions (row-major), or ``(B, n_items)``.
        """
        h = self.encode(seqs)
        h = h[:, -1] if mask is None else h[mask]
        return h @ self.item_vectors().T

"""GRU4Rec: a GRU over the consumed-item sequence (Hidasi et al., ICLR 2016).

Here in the form used for full-catalogue next-item prediction on user sequences (as in
RecBole and in Hidasi & Czapp's "constrained embedding" variant): item embedding,
dropout, a ``num_layers`` GRU, a linear projection of the hidden state back to the
embedding width, and the score of item ``i`` is ``<W h_t, E_i>`` with the *shared* input
item embeddings ``E`` (the padding row is never scored).

Sequences are right-aligned (most recent last) and left-padded with ``n_items``. The GRU
must start from a zero state at the user's first real item, so each row is rolled to be
left-aligned before the GRU and rolled back after it: padding never enters the recurrence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mtrec_ray.errors import ConfigError


@dataclass
class GRU4RecConfig:
    """GRU4Rec architecture."""

    dim: int = 64
    """Item embedding width (input and output, shared)."""
    hidden: int = 128
    """GRU hidden width."""
    num_layers: int = 1
    """Stacked GRU layers."""
    dropout: float = 0.3
    """Dropout on the input embeddings."""

    def validate(self) -> None:
        """Check ranges; messages say how to fix the value."""
        if self.dim < 1 or self.hidden < 1 or self.num_layers < 1:
            raise ConfigError("gru4rec.dim, gru4rec.hidden and gru4rec.num_layers must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("gru4rec.dropout must be in [0, 1)")


class GRU4Rec(nn.Module):
    """GRU4Rec network: right-aligned item ids ``(B, L)`` -> hidden states ``(B, L, dim)``."""

    def __init__(self, *, n_items: int, max_len: int, config: GRU4RecConfig | None = None) -> None:
        """Build the network.

        Args:
            n_items: catalogue size; ``n_items`` is the padding id.
            max_len: longest window L accepted.
            config: architecture (defaults if omitted).
        """
        super().__init__()
        self.config = config or GRU4RecConfig()
        self.config.validate()
        c = self.config
        self.n_items = n_items
        self.max_len = max_len
        self.item_emb = nn.Embedding(n_items + 1, c.dim, padding_idx=n_items)
        self.emb_dropout = nn.Dropout(c.dropout)
        self.gru = nn.GRU(c.dim, c.hidden, num_layers=c.num_layers, batch_first=True)
        self.proj = nn.Linear(c.hidden, c.dim)
        nn.init.xavier_normal_(self.item_emb.weight)
        nn.init.xavier_normal_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        for name, p in self.gru.named_parameters():
            if "weight_ih" in name:
                nn.init.xavier_uniform_(p)
            elif "weight_hh" in name:
                nn.init.orthogonal_(p)
        with torch.no_grad():
            self.item_emb.weight[n_items].zero_()

    def encode(self, seqs: Tensor) -> Tensor:
        """Hidden state at every position, ``(B, L, dim)``; only earlier items are seen."""
        b, length = seqs.shape
        if length > self.max_len:
            raise ValueError(f"sequence length {length} exceeds max_len {self.max_len}")
        n_valid = (seqs != self.n_items).sum(dim=1)  # right-aligned: the last n_valid columns
        cols = torch.arange(length, device=seqs.device)
        # left-align: new[j] = old[(j + L - n) % L]; back: old[i] = new[(i + n) % L]
        to_left = (cols[None, :] + (length - n_valid)[:, None]) % length
        to_right = (cols[None, :] + n_valid[:, None]) % length
        x = self.emb_dropout(self.item_emb(seqs.gather(1, to_left)))
        out, _ = self.gru(x)
        h = self.proj(out)
        h = h.gather(1, to_right[:, :, None].expand(-1, -1, h.shape[-1]))
        return h * (seqs != self.n_items).unsqueeze(-1).to(h.dtype)  # padding outputs are zero

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

"""Quantile distributions: a monotone quantile head and pure summary functions.

A distribution is represented by ``N`` quantiles at the mid-point levels
``tau_i = (2i - 1) / (2N)``, i = 1..N (QR-DQN), each atom carrying mass ``1/N``. The
last dimension of every tensor here is the quantile dimension. ``N = 1`` is a point
estimate (the non-distributional ablation): its std is 0 and its CVaR its value.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def quantile_levels(
    n_quantiles: int, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> Tensor:
    """Mid-point quantile levels ``(2i - 1) / (2N)`` for i = 1..N, shape ``(N,)``."""
    if n_quantiles < 1:
        raise ValueError(f"n_quantiles must be >= 1, got {n_quantiles}")
    i = torch.arange(n_quantiles, device=device, dtype=dtype or torch.float32)
    return (2 * i + 1) / (2 * n_quantiles)


def quantile_mean(quantiles: Tensor) -> Tensor:
    """Mean of the N-atom distribution (each atom has mass 1/N)."""
    return quantiles.mean(dim=-1)


def quantile_std(quantiles: Tensor) -> Tensor:
    """Standard deviation of the N-atom distribution (population std; 0 for N = 1)."""
    mean = quantiles.mean(dim=-1, keepdim=True)
    return ((quantiles - mean) ** 2).mean(dim=-1).clamp_min(0.0).sqrt()


def quantile_cvar(quantiles: Tensor, alpha: float) -> Tensor:
    """Lower-tail CVaR at level ``alpha``: the mean of the worst ``alpha`` share of mass.

    Atoms are sorted first (a no-op for monotone heads); atom i covers the probability
    interval ``[i/N, (i+1)/N)`` and contributes the part of it that lies below ``alpha``.

    Args:
        quantiles: ``(..., N)`` quantile values.
        alpha: tail level in (0, 1]; ``alpha = 1`` gives the mean.
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    q, _ = torch.sort(quantiles, dim=-1)
    n = q.shape[-1]
    lower = torch.arange(n, device=q.device, dtype=q.dtype) / n
    mass = (alpha - lower).clamp(min=0.0, max=1.0 / n)
    return (q * mass).sum(dim=-1) / alpha


class MonotoneQuantileHead(nn.Module):
    """Maps features and a location to N quantiles that are monotone by construction.

    ``q_1 <= ... <= q_N`` because ``q_i = loc + c_i - mean(c)`` with
    ``c_i = sum_{k < i} softplus(d_k)``: cumulative non-negative increments, centred so
    that the mean of the quantiles equals ``loc`` exactly. The location therefore carries
    the expected value and the increments only the shape (spread, skew).
    """

    def __init__(
        self, *, in_dim: int, n_quantiles: int, hidden: int = 32, init_spread: float = 1.0
    ) -> None:
        """Build the head.

        Args:
            in_dim: size of the shape features.
            n_quantiles: N; with N = 1 the head returns ``loc`` itself.
            hidden: hidden width of the increment MLP.
            init_spread: initial distance between the first and the last quantile.
        """
        super().__init__()
        if n_quantiles < 1:
            raise ValueError(f"n_quantiles must be >= 1, got {n_quantiles}")
        self.n_quantiles = n_quantiles
        self.increments: nn.Module | None = None
        if n_quantiles > 1:
            self.increments = nn.Sequential(
                nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_quantiles - 1)
            )
            last = self.increments[-1]
            assert isinstance(last, nn.Linear)
            nn.init.zeros_(last.weight)
            step = max(init_spread, 1e-4) / (n_quantiles - 1)
            nn.init.constant_(last.bias, math.log(math.expm1(step)))

    def forward(self, loc: Tensor, features: Tensor) -> Tensor:
        """Return ``(..., N)`` monotone quantiles for ``loc (...)`` and ``features (..., in_dim)``."""
        if self.increments is None:
            return loc.unsqueeze(-1)
        inc = F.softplus(self.increments(features))
        zero = torch.zeros_like(inc[..., :1])
        cum = torch.cat([zero, inc.cumsum(dim=-1)], dim=-1)
        return loc.unsqueeze(-1) + cum - cum.mean(dim=-1, keepdim=True)

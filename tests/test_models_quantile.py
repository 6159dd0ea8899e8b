"""Quantile summaries and the monotone quantile head."""

from __future__ import annotations

import pytest
import torch

from mtrec_ray.models.quantile import (
    MonotoneQuantileHead,
    quantile_cvar,
    quantile_levels,
    quantile_mean,
    quantile_std,
)


def test_levels_are_midpoints():
    assert torch.allclose(quantile_levels(4), torch.tensor([0.125, 0.375, 0.625, 0.875]))
    assert torch.allclose(quantile_levels(1), torch.tensor([0.5]))
    with pytest.raises(ValueError):
        quantile_levels(0)


def test_summaries_known_answers():
    q = torch.tensor([[1.0, 2.0, 3.0, 6.0]])
    assert torch.allclose(quantile_mean(q), torch.tensor([3.0]))
    assert torch.allclose(quantile_std(q), torch.tensor([3.5]).sqrt())
    assert torch.allclose(quantile_cvar(q, 0.25), torch.tensor([1.0]))
    assert torch.allclose(quantile_cvar(q, 0.5), torch.tensor([1.5]))
    # alpha = 0.375: full first atom (mass .25) + half of the second (mass .125).
    assert torch.allclose(quantile_cvar(q, 0.375), torch.tensor([(0.25 * 1 + 0.125 * 2) / 0.375]))
    assert torch.allclose(quantile_cvar(q, 1.0), quantile_mean(q))
    point = torch.tensor([[2.5]])
    assert quantile_std(point).item() == 0.0
    assert quantile_cvar(point, 0.1).item() == 2.5
    with pytest.raises(ValueError):
        quantile_cvar(q, 0.0)


def test_cvar_sorts_and_broadcasts():
    q = torch.randn(3, 5, 8)
    c = quantile_cvar(q, 0.3)
    assert c.shape == (3, 5)
    assert torch.all(c <= quantile_mean(q) + 1e-6)


@pytest.mark.parametrize("n", [1, 2, 16])
def test_head_is_monotone_and_centred(n):
    torch.manual_seed(0)
    head = MonotoneQuantileHead(in_dim=6, n_quantiles=n, hidden=8)
    if head.increments is not None:
        for p in head.increments.parameters():
            torch.nn.init.normal_(p, std=5.0)  # adversarial weights: still monotone
    loc = torch.randn(4, 7)
    q = head(loc, torch.randn(4, 7, 6) * 10)
    assert q.shape == (4, 7, n)
    assert torch.all(q[..., 1:] >= q[..., :-1])
    assert torch.allclose(q.mean(-1), loc, atol=1e-5 * (1 + q.abs().max().item()))

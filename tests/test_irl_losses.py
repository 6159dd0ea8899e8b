"""Pure QR-IQL losses: shapes, known answers, a two-state toy MDP with a known reward."""

from __future__ import annotations

import math

import pytest
import torch

from mtrec_ray.irl.losses import (
    action_log_probs,
    inverse_soft_bellman,
    mixture_log_likelihood,
    quantile_huber_loss,
    soft_q_iteration,
    soft_value,
)
from mtrec_ray.models.quantile import quantile_levels


@pytest.mark.parametrize("kappa", [0.0, 0.05])
def test_quantile_loss_minimised_at_true_quantiles(kappa):
    """Fit N free quantiles to Exp(1) samples: they land on -log(1 - tau)."""
    torch.manual_seed(0)
    n = 8
    taus = quantile_levels(n)
    # Stratified draws of Exp(1): the empirical distribution is the known one.
    u = (torch.arange(4000) + 0.5) / 4000
    samples = (-torch.log1p(-u)).unsqueeze(0)
    q = torch.zeros(1, n, requires_grad=True)
    opt = torch.optim.Adam([q], lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        quantile_huber_loss(q, samples, taus, kappa=kappa).backward()
        opt.step()
    truth = -torch.log1p(-taus)
    # A small Huber threshold only smooths the kink of the pinball loss.
    assert torch.allclose(q.detach()[0], truth, atol=0.03)
    # And the loss at the true quantiles is below the loss at shifted ones.
    base = quantile_huber_loss(truth.unsqueeze(0), samples, taus, kappa=kappa)
    for shift in (-0.2, 0.2):
        assert base < quantile_huber_loss(truth.unsqueeze(0) + shift, samples, taus, kappa=kappa)


def test_quantile_loss_shapes_and_weights():
    pred = torch.randn(5, 4, requires_grad=True)
    target = torch.randn(5, 7)
    taus = quantile_levels(4)
    loss = quantile_huber_loss(pred, target, taus)
    assert loss.dim() == 0
    loss.backward()
    assert pred.grad is not None and pred.grad.shape == (5, 4)
    w = torch.tensor([1.0, 0, 0, 0, 0])
    assert torch.allclose(
        quantile_huber_loss(pred, target, taus, weight=w), quantile_huber_loss(pred[:1], target[:1], taus)
    )


def test_mixture_likelihood_and_action_log_probs():
    logits = torch.tensor([[[0.0, 0.0], [0.0, math.log(3.0)]]])  # (B=1, N=2, A=2)
    logp = action_log_probs(logits, torch.tensor([1]))
    assert logp.shape == (1, 2)
    assert torch.allclose(logp.exp(), torch.tensor([[0.5, 0.75]]))
    assert torch.allclose(mixture_log_likelihood(logp).exp(), torch.tensor([0.625]))
    mask = torch.tensor([[True, False]])
    assert torch.allclose(action_log_probs(torch.zeros(1, 2), torch.tensor([0]), mask=mask), torch.zeros(1))
    assert torch.allclose(soft_value(torch.zeros(3, 4)), torch.full((3,), math.log(4.0)))


def _toy_mdp():
    """Two states, three actions: 0 = leave (terminal, reward 0: the anchor), 1 = go to
    state 0, 2 = go to state 1; rewards of actions 1 and 2 differ by state."""
    reward = torch.tensor([[0.0, 0.5, -1.0], [0.0, -0.3, 1.2]], dtype=torch.float64)
    p = torch.zeros(2, 3, 2, dtype=torch.float64)
    p[:, 1, 0] = 1.0
    p[:, 2, 1] = 1.0
    return reward, p, 0.8


def test_inverse_soft_bellman_recovers_reward_exactly():
    reward, p, gamma = _toy_mdp()
    q = soft_q_iteration(reward, p, gamma=gamma)
    v = soft_value(q)
    assert torch.allclose(q, reward + gamma * torch.einsum("sat,t->sa", p, v), atol=1e-8)
    next_v = torch.einsum("sat,t->sa", p, v)
    assert torch.allclose(inverse_soft_bellman(q, next_v, gamma=gamma), reward, atol=1e-8)
    done = torch.zeros(2, 3, dtype=torch.bool)
    done[:, 0] = True
    assert torch.allclose(inverse_soft_bellman(q, next_v, gamma=gamma, done=done), reward, atol=1e-8)


def test_toy_mdp_reward_recovered_from_behaviour_up_to_anchor():
    """Learn a structured tabular reward (leave anchored at 0) and a value critic from the
    expert's action frequencies alone: the soft-optimal policy's log-likelihood plus the
    quantile (N = 1) TD loss against lagged targets recovers the true reward."""
    torch.manual_seed(0)
    reward, p, gamma = _toy_mdp()
    expert = torch.softmax(soft_q_iteration(reward, p, gamma=gamma), dim=-1).float()
    p32 = p.float()
    r_free = torch.zeros(2, 2, requires_grad=True)  # rewards of actions 1, 2 (leave = 0)
    v = torch.zeros(2, 1, requires_grad=True)  # critic: soft value, one quantile
    opt = torch.optim.Adam([r_free, v], lr=0.05)
    taus = quantile_levels(1)
    for _ in range(60):  # rounds: publish lagged weights, then fit
        with torch.no_grad():
            r_lag = torch.cat([torch.zeros(2, 1), r_free], dim=1)
            q_lag = r_lag + gamma * torch.einsum("sat,t->sa", p32, v[:, 0])
            target = soft_value(q_lag).unsqueeze(-1)  # y(s) = log sum_a exp Q_lag(s, a)
        for _ in range(20):
            opt.zero_grad()
            r = torch.cat([torch.zeros(2, 1), r_free], dim=1)
            q = r + gamma * torch.einsum("sat,t->sa", p32, v[:, 0])
            nll = -(expert * torch.log_softmax(q, dim=-1)).sum(-1).mean()
            td = quantile_huber_loss(v, target, taus)
            (nll + td).backward()
            opt.step()
    learned = torch.cat([torch.zeros(2, 1), r_free.detach()], dim=1)
    assert torch.allclose(learned, reward.float(), atol=0.03), learned

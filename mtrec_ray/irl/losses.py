"""Pure tensor losses of QR-IQL (no Ray, no data loading; unit-tested on toy problems).

Notation: ``N`` quantile levels ``tau_i = (2i - 1) / 2N``; ``A`` actions; a soft-optimal
agent with temperature 1 acts with ``pi(a|s) = softmax_a Q(s, a)``, its soft value is
``V(s) = log sum_a exp Q(s, a)`` and the soft Bellman equation
``Q(s, a) = r(s, a) + gamma E[V(s') | s, a]`` read backwards (the *inverse* soft Bellman
step) gives the reward ``r(s, a) = Q(s, a) - gamma E[V(s')]``.

* ``quantile_huber_loss``: QR-DQN's loss
  ``L = E_j sum_i |tau_i - 1{u_ij < 0}| H_kappa(u_ij) / kappa``, ``u_ij = y_j - q_i``,
  with ``H_kappa`` the Huber function (``kappa = 0``: the plain pinball loss). For a
  fixed target distribution it is minimised when ``q_i`` is its ``tau_i``-quantile.
* ``mixture_log_likelihood``: the action likelihood when the agent acts soft-optimally
  given a *draw* of its reward from the quantile distribution:
  ``log p(a) = log (1/N) sum_i pi_i(a)`` with ``pi_i`` the policy under quantile i.
* ``soft_q_iteration``: soft value iteration on a tabular MDP (reference solutions).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def huber(u: Tensor, kappa: float) -> Tensor:
    """Huber function ``0.5 u^2`` for ``|u| <= kappa``, else ``kappa (|u| - kappa / 2)``."""
    if kappa <= 0:
        return u.abs()
    a = u.abs()
    return torch.where(a <= kappa, 0.5 * u * u, kappa * (a - 0.5 * kappa))


def quantile_huber_loss(
    pred: Tensor,
    target: Tensor,
    taus: Tensor,
    *,
    kappa: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    """QR-DQN quantile Huber loss between predicted quantiles and target samples.

    Args:
        pred: ``(B, N)`` predicted quantiles at levels ``taus``.
        target: ``(B, M)`` samples (or quantiles) of the target distribution; it is
            treated as a constant (detach it before calling if it has gradients).
        taus: ``(N,)`` quantile levels.
        kappa: Huber threshold; ``0`` gives the pinball (quantile) loss.
        weight: optional ``(B,)`` per-row weights.

    Returns:
        Scalar loss: mean over rows and target samples, sum over quantiles.
    """
    u = target.unsqueeze(-2) - pred.unsqueeze(-1)  # (B, N, M)
    indicator = (u.detach() < 0).to(pred.dtype)
    scale = kappa if kappa > 0 else 1.0
    rho = (taus.view(-1, 1) - indicator).abs() * huber(u, kappa) / scale
    per_row = rho.mean(dim=-1).sum(dim=-1)
    if weight is None:
        return per_row.mean()
    return (per_row * weight).sum() / weight.sum().clamp_min(1e-12)


def soft_value(q: Tensor, *, dim: int = -1, mask: Tensor | None = None) -> Tensor:
    """Soft value ``log sum_a exp Q(s, a)`` over ``dim``; ``mask`` marks available actions."""
    if mask is not None:
        q = q.masked_fill(~mask, float("-inf"))
    return torch.logsumexp(q, dim=dim)


def inverse_soft_bellman(q_sa: Tensor, next_value: Tensor, *, gamma: float, done: Tensor | None = None) -> Tensor:
    """Reward read off a soft Q-function: ``r = Q(s, a) - gamma (1 - done) V(s')``."""
    if done is None:
        return q_sa - gamma * next_value
    return q_sa - gamma * (1.0 - done.to(q_sa.dtype)) * next_value


def mixture_log_likelihood(logp_per_quantile: Tensor) -> Tensor:
    """``log (1/N) sum_i exp(logp_i)``: likelihood of an action under a reward draw.

    Args:
        logp_per_quantile: ``(..., N)`` log-probability of the observed action(s) when
            the reward is the i-th quantile (sum the log-probs of several decisions of
            the same event first: the same draw drives them all).

    Returns:
        ``(...)`` log-likelihood of the mixture.
    """
    n = logp_per_quantile.shape[-1]
    return torch.logsumexp(logp_per_quantile, dim=-1) - math.log(n)


def action_log_probs(logits: Tensor, actions: Tensor, *, mask: Tensor | None = None) -> Tensor:
    """Log softmax probability of ``actions`` under ``logits (..., A)``.

    ``actions`` has the shape of ``logits`` without its last dimension, or one fewer
    leading dimension when ``logits`` carries an extra quantile dimension ``(B, N, A)``
    (then the result is ``(B, N)``).
    """
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    logp = torch.log_softmax(logits, dim=-1)
    if actions.dim() == logits.dim() - 2:
        actions = actions.unsqueeze(-1).expand(logp.shape[:-1])
    return torch.gather(logp, -1, actions.unsqueeze(-1)).squeeze(-1)


def soft_q_iteration(
    reward: Tensor, transition: Tensor, *, gamma: float, iters: int = 2000, tol: float = 1e-10
) -> Tensor:
    """Soft-optimal Q of a tabular MDP by soft value iteration.

    Args:
        reward: ``(S, A)`` rewards.
        transition: ``(S, A, S)`` next-state probabilities (rows may sum to < 1:
            the missing mass terminates the episode with value 0).
        gamma: discount in [0, 1).

    Returns:
        ``(S, A)`` soft Q with ``Q = r + gamma P V`` and ``V = logsumexp_a Q``.
    """
    q = reward.clone()
    for _ in range(iters):
        v = torch.logsumexp(q, dim=-1)
        new = reward + gamma * torch.einsum("sat,t->sa", transition, v)
        if (new - q).abs().max() < tol:
            return new
        q = new
    return q

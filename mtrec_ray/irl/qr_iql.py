r"""QR-IQL: distributional inverse soft-Q learning of the mental reward.

The user is the agent. At each slate (an *event* t, state s_t: the history of consumed
items and responses) it decides which item to consume, if any (the click c_t), how
deeply to watch it (depth y_t), whether to go on or leave the session (o_t), and after
leaving whether to come back within ``return_days`` (b_t). It acts soft-optimally
(maximum entropy, temperature 1) with respect to a soft Q-function in which the item
enters only through the **mental reward** rho(s, x): N quantiles
rho_1 <= ... <= rho_N at levels tau_i = (2i - 1) / 2N (monotone by construction).

Structured soft Q under a draw u = rho_i(s_t, x_t) of the realised satisfaction
(leave, "not back", "no click" and the lowest depth are the anchors with value 0: with
one action's value fixed, the reward is identifiable from behaviour)::

    depth   (gaussian, y = logit watch ratio):  pi_i(y) = N(y; a (rho_i + eta(z_t)) + c, sd^2)
            (buckets: Q_i(k) = w_k (rho_i + eta(z_t)) + c_k, w_k = sum_{l<=k} softplus(.))
    go on:  Q_i(on)   = a_o + v rho_i + v_m m_t + phi(f_t) + gamma E_j W_j(s_{t+1} | m'_i)
            (no consumption: a_o' + v_m m_t + phi(f_t) + gamma E_j W_j(s_{t+1} | m_t))
    back:   Q_i(back) = a_b + v_b m'_i
    click:  Q(x)      = v_c E[rho(s_t, x)] + alpha_x + <g(s_t), h_x> + eta_c(z_x),  Q(none) = 0
    mood:   m_t = sum_j (1 - lam) lam^{age_j} E[rho(s_t, y_j)]  (y_j: earlier consumptions of
            the session),  m'_i = lam m_t + (1 - lam) rho_i  after consuming x_t

The gaussian depth is a continuous max-ent action: its reward is the log-density, so its
soft value is 0. ``a, v, v_m, v_b, v_c >= 0`` (and ``w`` increasing) orient rho: more
satisfied users watch deeper, go on, come back, and expect more before clicking.

Structure that keeps nuisances out of rho (DESIGN.md lesson 2):

* observable nuisances ``z`` (log duration, its square, log(1 + position)) shift the
  depth index through ``eta(z)`` and the click through ``eta_c``, and are *excluded*
  from going on and coming back. Duration is fixed per item, so only this exclusion
  separates "short, so finished" from "satisfying": rho must also explain going on.
* clicks follow expectations and appeal: the per-item attraction ``alpha_x`` (thumbnail,
  bait) and a rank-``attraction_rank`` user-specific attraction absorb what the click
  shows beyond rho, so clicks inform rho only through the part of taste that going on
  and watching confirm (bait earns clicks, not reward).

The reward is read off by the inverse soft Bellman step, ``r_i(s_t, a) = Q_i(s_t, a) -
gamma E[V(s_{t+1}) | a]`` (the terms above without ``gamma W``); the item's part of
it is rho, which is what the model reports (DESIGN.md lesson 1: not the expected
reward of the taken actions).

Likelihood: the realised satisfaction is a draw from rho's distribution and all the
post-consumption decisions of the event are soft-optimal given the same draw::

    log p(a_t | s_t) = log pi(c_t) + log (1/N) sum_i pi_i(y_t) pi_i(o_t) pi_i(b_t)

The mixture identifies the quantiles: rho's spread is what explains how much depth,
going on and coming back vary together for the same (state, item) beyond the noise of
a single draw (N = 1 cannot represent it: the non-distributional ablation).

Critic: ``W_j(s')``, N quantiles of the soft value of the next event, trained with the
QR-DQN quantile Huber loss against targets built with a **lagged** copy of the weights
(``compute_targets``)::

    y_i(t) = V^lag_i(s_{t+1}) = sum of the soft values of event t+1's decisions under draw i
           = log(1 + exp Q^lag_i(on))  [+ log sum_k exp Q^lag_i(k) with depth buckets]
    L_TD   = E_t sum_i E_j rho^kappa_{tau_i}(y_j(t) - W_i(s_{t+1}))

Objective (minimised)::

    L = - E_t log p(a_t | s_t) + td_weight L_TD + l2_items E||e_x||^2
        [+ item_prior mean_x (b_x - k alpha_x - c)^2]

``gamma = 0`` removes the lookahead (behaviour cloning of engagement: an ablation);
``evidence = "continuation"`` keeps only going on and coming back (an ablation).

Pieces (shared with the Ray actors and the Ray Train learner in ``distributed.py``):

* ``compute_targets(lagged, events)``: next-event soft-value quantiles for every event
  of a table or user shard, with lagged weights (no gradients, no optimiser).
* ``update_critic_offset(model, targets)``: learner-side re-centring of the critic
  (the constant is folded into the going-on intercept, so the read-off reward of going
  on is ``a_o - gamma * offset`` + the rest).
* ``qr_iql_loss(model, batch, targets)``: the objective on a batch.
* ``train_qr_iql(...)``: the plain single-process loop: each round (``target_every``
  epochs) copy the weights, compute targets, run minibatch Adam; early stopping on the
  validation negative log-likelihood.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mtrec_ray.irl.config import IRLConfig
from mtrec_ray.irl.data import EventTable, FeatureSpec, index_batch, to_tensors
from mtrec_ray.irl.losses import mixture_log_likelihood, quantile_huber_loss
from mtrec_ray.models.quantile import MonotoneQuantileHead, quantile_levels
from mtrec_ray.models.reward_model import MentalRewardModel

DEPTH_CLIP = 0.005
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))
    last = net[-1]
    assert isinstance(last, nn.Linear)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return net


class ValueCritic(nn.Module):
    """``W_i(s')``: N monotone quantiles of the next event's soft value.

    The location depends on the post-event state (session features, whether an item
    was consumed, the post-event mood of draw i); the shape on the session features.
    """

    def __init__(self, *, n_state: int, n_quantiles: int, hidden: int) -> None:
        super().__init__()
        self.loc = _mlp(n_state + 2, hidden, 1)
        self.head = MonotoneQuantileHead(in_dim=n_state, n_quantiles=n_quantiles, hidden=hidden, init_spread=0.2)
        # Mean of the latest targets: soft values grow to ~1 / (1 - gamma) times a step's
        # value; the networks only learn the deviation from it.
        self.register_buffer("offset", torch.zeros(()))

    def location(self, state_feats: Tensor, consumed: Tensor, mood_next: Tensor) -> Tensor:
        """Expected next value ``E_j W_j(s')`` under each draw's mood: ``(B, N)``."""
        n = mood_next.shape[-1]
        x = torch.cat(
            [
                state_feats.unsqueeze(1).expand(-1, n, -1),
                consumed.to(state_feats.dtype).view(-1, 1, 1).expand(-1, n, 1),
                mood_next.unsqueeze(-1),
            ],
            dim=-1,
        )
        return self.offset + self.loc(x).squeeze(-1)

    def forward(self, state_feats: Tensor, consumed: Tensor, mood_next: Tensor) -> Tensor:
        """Quantiles ``(B, N)`` of ``W(s')``: ``state_feats (B, S)``, ``consumed (B,)``,
        ``mood_next (B, N)``; quantile i is taken at draw i's mood (comonotone coupling)."""
        loc = self.location(state_feats, consumed, mood_next)
        shape = self.head(torch.zeros_like(loc[:, 0]), state_feats)  # (B, N), mean 0
        return loc + shape


class QRIQLModel(nn.Module):
    """The behaviour model of QR-IQL around a ``MentalRewardModel`` (``self.reward``)."""

    def __init__(self, *, spec: FeatureSpec, config: IRLConfig) -> None:
        """Build it for the data constants ``spec`` and the configuration ``config``."""
        super().__init__()
        self.spec = spec
        self.config = config
        n = config.model.n_quantiles
        self.reward = MentalRewardModel(
            n_items=spec.n_items,
            n_history_features=spec.n_history_features,
            config=config.model,
            metadata={"feature_spec": spec.to_dict(), "method": "qr-iql", "gamma": config.gamma},
        )
        z, s, h = spec.n_nuisance, spec.n_state_features, config.state_hidden
        d = max(spec.n_depth, 2)
        self.depth_w = nn.Parameter(torch.full((d - 1,), math.log(math.expm1(1.0))))
        self.depth_c = nn.Parameter(torch.zeros(d - 1))
        self.depth_nuis = nn.Linear(z, 1, bias=False)  # eta(z): shift of the engagement index
        nn.init.zeros_(self.depth_nuis.weight)
        self.depth_scale = nn.Parameter(torch.tensor(math.log(math.expm1(1.0))))  # gaussian: a
        self.depth_sd = nn.Parameter(torch.tensor(math.log(math.expm1(1.5))))  # gaussian: sigma
        self.depth_mean = nn.Parameter(torch.tensor(0.0))  # gaussian: c
        self.on_bias = nn.Parameter(torch.tensor([2.5, 2.0]))  # after a consumption / none
        self.on_w = nn.Parameter(torch.tensor(math.log(math.expm1(0.5))))
        self.mood_w = nn.Parameter(torch.tensor(math.log(math.expm1(0.3))))
        self.mood_decay = nn.Parameter(torch.tensor(0.0))  # lam = sigmoid
        self.state_net = _mlp(s, h, 1)
        self.back_bias = nn.Parameter(torch.tensor(1.0))
        self.back_w = nn.Parameter(torch.tensor(math.log(math.expm1(0.5))))
        self.critic = ValueCritic(n_state=s, n_quantiles=n, hidden=h)
        self.attraction = nn.Embedding(spec.n_items + 1, 1, padding_idx=spec.n_items)
        self.attraction.weight.requires_grad_(config.item_attraction)
        nn.init.zeros_(self.attraction.weight)
        self.click_w = nn.Parameter(torch.tensor(math.log(math.expm1(0.5))))
        self.click_nuis = nn.Linear(z, 1, bias=False)
        nn.init.zeros_(self.click_nuis.weight)
        r = config.attraction_rank
        self.attraction_user = nn.Linear(config.model.dim, r, bias=False) if r > 0 else None
        self.attraction_items = nn.Embedding(spec.n_items + 1, r, padding_idx=spec.n_items) if r > 0 else None
        if self.attraction_items is not None:
            nn.init.normal_(self.attraction_items.weight, std=0.1)
        # empirical-Bayes prior of the item bias of rho: b_x ~ N(k a_x + c, 1 / item_prior)
        self.prior_slope = nn.Parameter(torch.tensor(0.0))
        self.prior_offset = nn.Parameter(torch.tensor(0.0))
        self.register_buffer("taus", quantile_levels(n), persistent=False)

    @property
    def n_quantiles(self) -> int:
        """Quantiles N of the mental reward."""
        return self.config.model.n_quantiles


@dataclass
class EventOutputs:
    """Per-event quantities of the behaviour model (B events, N draws)."""

    logp: Tensor
    """``(B, N)`` log-probability of the observed draw-dependent decisions per draw."""
    logp_fixed: Tensor
    """``(B,)`` log-probability of draw-independent decisions (the click choice)."""
    value: Tensor
    """``(B, N)`` soft value of the event's decisions per draw (for critic targets)."""
    critic_next: Tensor
    """``(B, N)`` critic quantiles W_i(s_{t+1}) with the mood input detached (TD loss)."""
    rho: Tensor
    """``(B, N)`` mental reward quantiles of the consumed item (zeros when none)."""


def event_outputs(model: QRIQLModel, batch: dict[str, Tensor]) -> EventOutputs:
    """Evaluate the structured soft-Q behaviour model on a batch of events."""
    cfg, spec = model.config, model.spec
    rm = model.reward
    n = model.n_quantiles
    consumed = batch["clicked"] >= 0
    cf = consumed.to(torch.float32)
    u = rm.state(batch["hist_items"], batch["hist_feats"])
    rho = rm.quantiles_from_state(u, batch["item"]) * cf.unsqueeze(-1)  # (B, N)

    lam = torch.sigmoid(model.mood_decay)
    if cfg.use_mood:
        mood_items = batch["mood_items"]
        m_len = mood_items.shape[1]
        mood_rho = rm.mean_from_state(u, mood_items)  # (B, M)
        age = torch.arange(m_len - 1, -1, -1, device=u.device, dtype=u.dtype)
        weights = (1 - lam) * lam**age * (mood_items != spec.n_items).to(u.dtype)
        mood = (weights * mood_rho).sum(-1)  # (B,)
        mood_next = torch.where(consumed.unsqueeze(-1), lam * mood.unsqueeze(-1) + (1 - lam) * rho, mood.unsqueeze(-1).expand(-1, n))
    else:
        mood = torch.zeros_like(cf)
        mood_next = rho
    f = batch["state_feats"]
    # the decision uses the expected next value (risk-neutral soft Bellman step); the
    # critic's constant offset is folded into the going-on intercept a_o (a constant
    # shift of one action's value), so re-centring the critic never jolts the policy;
    # the quantiles are fitted to the targets with the mood input detached
    w_next = model.critic.location(f, consumed, mood_next) - model.critic.offset
    w_next_td = model.critic(f, consumed, mood_next.detach())

    zero = torch.zeros_like(rho)
    logp = zero.clone()
    value = zero.clone()

    # depth decision (consumed events with watch data)
    if spec.n_depth > 0 and cfg.evidence == "all":
        has_depth = (batch["depth"] >= 0).to(rho.dtype).unsqueeze(-1)
        index = rho + model.depth_nuis(batch["nuis"])  # (B, N): rho_i + eta(z_t)
        if cfg.depth == "gaussian":
            # continuous depth y = logit(watch ratio); reward = log N(y; a index + c, sd^2),
            # so the soft value of this decision is 0 (a normalised max-ent policy).
            ratio = batch["watch_ratio"].clamp(DEPTH_CLIP, 1 - DEPTH_CLIP)
            y = torch.log(ratio / (1 - ratio)).unsqueeze(-1)
            sd = F.softplus(model.depth_sd) + 1e-3
            mu = F.softplus(model.depth_scale) * index + model.depth_mean
            logp = logp + has_depth * (-0.5 * ((y - mu) / sd) ** 2 - torch.log(sd) - HALF_LOG_2PI)
        else:
            w = torch.cumsum(F.softplus(model.depth_w), 0)  # (D-1,) >= 0, increasing
            util = index.unsqueeze(-1) * w + model.depth_c
            util = torch.cat([torch.zeros_like(util[..., :1]), util], dim=-1)  # (B, N, D)
            logsm = torch.log_softmax(util, dim=-1)
            k = batch["depth"].clamp_min(0).view(-1, 1, 1).expand(-1, n, 1)
            logp = logp + torch.gather(logsm, -1, k).squeeze(-1) * has_depth
            value = value + torch.logsumexp(util, dim=-1) * cf.unsqueeze(-1)

    # going on vs leaving (leave = 0)
    phi = model.state_net(f).squeeze(-1)
    base = torch.where(consumed, model.on_bias[0], model.on_bias[1]) + phi
    if cfg.use_mood:
        base = base + F.softplus(model.mood_w) * mood
    q_on = base.unsqueeze(-1) + F.softplus(model.on_w) * rho + cfg.gamma * w_next  # (B, N)
    went_on = (~batch["leave"]).to(torch.float32).unsqueeze(-1)
    logp = logp + went_on * F.logsigmoid(q_on) + (1 - went_on) * F.logsigmoid(-q_on)
    value = value + F.softplus(q_on)

    # coming back after the session (known outcomes only)
    if cfg.use_return:
        known = (batch["returned"] >= 0).to(torch.float32).unsqueeze(-1)
        back = (batch["returned"] == 1).to(torch.float32).unsqueeze(-1)
        q_back = model.back_bias + F.softplus(model.back_w) * mood_next
        logp = logp + known * (back * F.logsigmoid(q_back) + (1 - back) * F.logsigmoid(-q_back))

    # click choice among the slate (draw-independent: the user acts on expectations)
    logp_fixed = torch.zeros_like(cf)
    if cfg.use_click and spec.has_choices and cfg.evidence == "all":
        slate = batch["slate_items"]
        rho_slate = rm.mean_from_state(u, slate)  # (B, K)
        util = (
            F.softplus(model.click_w) * rho_slate
            + model.attraction(slate).squeeze(-1)
            + model.click_nuis(batch["slate_nuis"]).squeeze(-1)
        )
        if model.attraction_user is not None and model.attraction_items is not None:
            util = util + (model.attraction_user(u).unsqueeze(1) * model.attraction_items(slate)).sum(-1)
        util = util.masked_fill(~batch["slate_mask"], float("-inf"))
        util = torch.cat([torch.zeros_like(util[:, :1]), util], dim=1)
        logp_fixed = torch.log_softmax(util, dim=1).gather(1, (batch["clicked"] + 1).unsqueeze(1)).squeeze(1)

    return EventOutputs(logp=logp, logp_fixed=logp_fixed, value=value, critic_next=w_next_td, rho=rho)


@torch.no_grad()
def update_critic_offset(model: QRIQLModel, targets: dict[str, Tensor]) -> None:
    """Re-centre the critic on the mean of a round's targets (a learner-side step)."""
    mask = targets["has_next"]
    if bool(mask.any()):
        model.critic.offset.fill_(float(targets["next_value"][mask].mean()))


@torch.no_grad()
def compute_targets(
    lagged: QRIQLModel, events: dict[str, Tensor], *, chunk_size: int = 8192
) -> dict[str, Tensor]:
    """Critic targets for every event of a table (or a user-sharded part of one).

    With the lagged weights, computes each event's soft value quantiles V_i(s_t) and
    returns, per event, those of its *next* event (same session):

    Returns:
        ``next_value (E, N)`` (zeros where the session ended) and ``has_next (E,)``.
    """
    was_training = lagged.training
    lagged.eval()
    n_ev = events["user"].shape[0]
    values = []
    for start in range(0, n_ev, chunk_size):
        rows = torch.arange(start, min(start + chunk_size, n_ev), device=events["user"].device)
        values.append(event_outputs(lagged, index_batch(events, rows)).value)
    value = torch.cat(values) if values else torch.zeros(0, lagged.n_quantiles)
    nxt = events["next_event"]
    has_next = nxt >= 0
    next_value = torch.where(has_next.unsqueeze(-1), value[nxt.clamp_min(0)], torch.zeros_like(value))
    lagged.train(was_training)
    return {"next_value": next_value, "has_next": has_next}


def qr_iql_loss(
    model: QRIQLModel, batch: dict[str, Tensor], targets: dict[str, Tensor]
) -> tuple[Tensor, dict[str, float]]:
    """The QR-IQL objective on a batch (see the module docstring).

    Args:
        model: the behaviour model (its ``reward`` is the mental reward model).
        batch: event tensors for B events (``index_batch`` of ``to_tensors``).
        targets: ``next_value (B, N)`` and ``has_next (B,)`` from ``compute_targets``
            with lagged weights, for the same rows.

    Returns:
        The scalar loss and float statistics (nll, td, l2).
    """
    cfg = model.config
    out = event_outputs(model, batch)
    ll = mixture_log_likelihood(out.logp) + out.logp_fixed
    nll = -ll.mean()
    td = torch.zeros((), device=nll.device)
    if cfg.gamma > 0 and cfg.td_weight > 0:
        mask = targets["has_next"].to(nll.dtype)
        if mask.sum() > 0:
            td = quantile_huber_loss(out.critic_next, targets["next_value"], model.taus, kappa=cfg.kappa, weight=mask)
    items = batch["item"]
    emb = model.reward.item_embedding.vectors(items)
    l2 = (emb**2).sum(-1).mean()
    loss = nll + cfg.td_weight * td + cfg.l2_items * l2
    if cfg.item_prior > 0 and cfg.use_click:
        loss = loss + cfg.item_prior * item_prior_penalty(model)
    return loss, {"nll": float(nll.detach()), "td": float(td.detach()), "l2": float(l2.detach())}


def item_prior_penalty(model: QRIQLModel) -> Tensor:
    """``mean_x (b_x - k a_x - c)^2``: shrinks rho's item bias towards a learned linear
    function of the item's click attraction (detached), so items with little post-click
    evidence borrow strength from how the other items' appeal relates to their reward."""
    n = model.spec.n_items
    bias = model.reward.item_embedding.bias.weight[:n, 0]
    attraction = model.attraction.weight[:n, 0].detach()
    return ((bias - model.prior_slope * attraction - model.prior_offset) ** 2).mean()


@torch.no_grad()
def evaluate_nll(model: QRIQLModel, events: dict[str, Tensor], *, chunk_size: int = 8192) -> float:
    """Mean negative log-likelihood of the observed engagement on an event table."""
    model.eval()
    total, count = 0.0, 0
    n_ev = events["user"].shape[0]
    for start in range(0, n_ev, chunk_size):
        rows = torch.arange(start, min(start + chunk_size, n_ev), device=events["user"].device)
        out = event_outputs(model, index_batch(events, rows))
        ll = mixture_log_likelihood(out.logp) + out.logp_fixed
        total += float(-ll.sum())
        count += rows.numel()
    model.train()
    return total / max(count, 1)


@dataclass
class TrainResult:
    """What ``train_qr_iql`` returns."""

    model: QRIQLModel
    """The behaviour model with the best validation weights."""
    history: list[dict[str, float]] = field(default_factory=list)
    """Per-epoch statistics (train loss parts, validation nll, seconds)."""
    best_epoch: int = 0
    """Epoch (0-based) of the restored weights."""

    @property
    def reward_model(self) -> MentalRewardModel:
        """The learned mental reward model (the artifact)."""
        return self.model.reward


def train_qr_iql(
    train: EventTable,
    valid: EventTable,
    *,
    spec: FeatureSpec,
    config: IRLConfig,
    callback: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Plain single-process QR-IQL training loop with early stopping.

    Args:
        train: training events (built with ``spec``).
        valid: validation events (other users) for early stopping.
        spec: the feature constants of the data.
        config: hyper-parameters.
        callback: called with each epoch's statistics.
    """
    config.validate()
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    model = QRIQLModel(spec=spec, config=config).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    tr = to_tensors(train, device)
    va = to_tensors(valid, device)
    gen = torch.Generator().manual_seed(config.seed)
    best, best_state, best_epoch, bad = math.inf, copy.deepcopy(model.state_dict()), 0, 0
    history: list[dict[str, float]] = []
    targets: dict[str, Tensor] = {}
    n_ev = len(train)
    for epoch in range(config.epochs):
        t0 = time.perf_counter()
        if epoch % config.target_every == 0:
            lagged = copy.deepcopy(model)
            targets = compute_targets(lagged, tr)
            update_critic_offset(model, targets)
        model.train()
        perm = torch.randperm(n_ev, generator=gen).to(device)
        sums: dict[str, float] = {"loss": 0.0, "nll": 0.0, "td": 0.0}
        steps = 0
        for start in range(0, n_ev, config.batch_size):
            rows = perm[start : start + config.batch_size]
            batch = index_batch(tr, rows)
            tgt = {k: v[rows] for k, v in targets.items()}
            loss, stats = qr_iql_loss(model, batch, tgt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sums["loss"] += float(loss.detach())
            sums["nll"] += stats["nll"]
            sums["td"] += stats["td"]
            steps += 1
        val_nll = evaluate_nll(model, va)
        record = {k: v / max(steps, 1) for k, v in sums.items()}
        record.update(epoch=float(epoch), valid_nll=val_nll, seconds=time.perf_counter() - t0)
        history.append(record)
        if callback is not None:
            callback(record)
        if val_nll < best - 1e-5:
            best, best_state, best_epoch, bad = val_nll, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            bad += 1
            if bad >= config.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model=model, history=history, best_epoch=best_epoch)


def score_pairs(
    reward: MentalRewardModel,
    hist_items: np.ndarray,
    hist_feats: np.ndarray,
    items: np.ndarray,
    *,
    chunk_size: int = 4096,
) -> np.ndarray:
    """Quantiles ``(P, C, N)`` of rho for P states and C candidate items each (numpy in,
    numpy out; computed on the model's device)."""
    reward.eval()
    device = next(reward.parameters()).device
    out = []
    with torch.no_grad():
        for s in range(0, hist_items.shape[0], chunk_size):
            sl = slice(s, s + chunk_size)
            q = reward(
                torch.as_tensor(hist_items[sl], device=device),
                torch.as_tensor(hist_feats[sl], dtype=torch.float32, device=device),
                torch.as_tensor(items[sl], device=device),
            )
            out.append(q.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, items.shape[1], reward.n_quantiles))

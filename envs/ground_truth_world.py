r"""Ground-truth world: a simulated platform whose users have a hidden mental reward.

Description
-----------
The world is two things at once: the generator of the embedded default logs (a
logging policy shows slates, users click, watch, leave and come back) and the
"online A/B test" in which learned rewards and recommenders are judged. Users act on
a hidden, stochastic *mental reward* (satisfaction). Implicit feedback is a biased
proxy of it, in the ways real feedback is: clicks follow relevance, clickbait and
position, not satisfaction; watch ratio follows satisfaction but short items are
finished regardless; dissatisfied users leave sooner and come back later (or never).

Everything is vectorised in numpy over a batch of users (one loop over time steps,
all users in session stepped at once) and deterministic for a seed: item and user
parameters come from ``(config, seed)`` alone, dynamics from an explicit
``np.random.Generator`` (never the global ``np.random``).

Generative model
----------------
Items ``i = 1..N``, sampled once::

    v_i ~ N(0, I_d / d)                                    topic vector
    q_i ~ N(0, sigma_q^2)                                  quality
    z_i = rho_bq q_i / sigma_q + sqrt(1 - rho_bq^2) xi_i     latent bait, xi_i ~ N(0, 1)
    b_i = Phi(z_i) in (0, 1)                               clickbait strength (rho_bq < 0:
                                                           bait items tend to be worse)
    log d_i = log d_med + sigma_d (rho_db z_i + sqrt(1 - rho_db^2) zeta_i),
              clipped to [d_min, d_max]                    duration in seconds
    sigma_i = sigma_eps exp(s_sigma eta_i)                 satisfaction noise spread
    alpha_i ~ N(0, s_alpha^2)                              skew of the satisfaction noise
    a_i = A U_i with probability p_pol, else 0             polarisation amplitude,
                                                           U_i ~ U(0.5, 1)

Users ``u = 1..U``, sampled once::

    w_u = c + e_u,  c ~ N(0, s_c^2 I_d),  e_u ~ N(0, I_d)  preference (c: shared taste)
    beta_u  ~ LogNormal(0, s_beta^2)                       susceptibility to bait
    kappa_u ~ LogNormal(0, s_kappa^2)                      patience
    g_u     ~ LogNormal(log g, s_g^2)                      typical gap between sessions (days)
    rel(u, i) = w_u . v_i                                  relevance

Click: a multinomial logit over the slate ``i_0..i_{K-1}`` and "no click"::

    U_k    = c_rel rel(u, i_k) + c_q q_{i_k} + c_b beta_u b_{i_k} - c_pos log(1 + k)
    U_none = c_0
    P(click k) = exp(U_k) / (exp(U_none) + sum_j exp(U_j))

Mental reward of consuming ``i`` in state ``h`` (the last ``L`` consumed items,
``h_L`` the most recent; padded slots count as 0)::

    mu(u, i, h) = s_rel rel(u, i) + s_q q_i - s_b b_i
                  - eta_topic * sum_l lambda^(L-l) [cos(v_i, v_{h_l})]_+ / sum_l lambda^(L-l)
                  - eta_rep * 1[i in h]                    (satiation and repeats)
    s = mu(u, i, h) + sigma_i e + a_i o                    realised satisfaction
        e ~ skew-normal(alpha_i) standardised to mean 0, variance 1
        o = +1 or -1 with probability 1/2 each            (polarising items: two modes)

so ``E[s] = mu`` and ``Var[s] = sigma_i^2 + a_i^2``.

Watch (only after a click)::

    logit(omega) = w_0 + w_s s - w_d log(d_i / d_ref) + sigma_w nu,  nu ~ N(0, 1)
    watch_ratio = omega in (0, 1),  watch_time = omega d_i

Users judge what they get against a reference satisfaction ``r`` (what they expect
of the platform). Mood, an exponential moving average of satisfaction, starts at ``r``::

    m <- (1 - alpha_m) m + alpha_m s                       after each consumption
    m <- r + (m - r) exp(-gap / tau_m)                     between sessions

Leaving the session, after each slate (forced after ``T_max`` slates)::

    logit P(leave) = l_0 - l_kappa log kappa_u - l_s (s - r) 1[click] - l_m (m - r)
                     + l_n 1[no click]

Returning, after a session with mean satisfaction ``z`` over its consumptions
(``z = r + z_none`` when nothing was consumed)::

    P(never comes back) = sigmoid(h_0 - h_s (z - r))
    gap ~ Exponential(mean = g_u exp(-g_s (z - r))) days   next session starts after it,
                                                           if before the horizon

Time: a session starts at an integer second; the item at slate position ``k`` is
shown at ``t + k``; the next slate comes ``K + ceil(watch_time) + browse`` seconds
later (``browse = 1 + floor(Exponential(t_browse))``), so timestamps strictly increase
within a user.

Logging policy
--------------
``generate_logs`` shows slates from :class:`LoggingPolicy`: each position is filled
from the popularity distribution (softmax of the items' standardised mean click
appeal), uniformly at random, or from the user's pool of items with the highest
noisy relevance, with probabilities ``p_popular / p_random / p_relevant``; items are
distinct within a slate and not among the user's last consumed items. The logs hold
what a platform records (exposures, clicks, watch time, timestamps, sessions); the
satisfaction goes to a separate ground-truth table.

Difficulty (frozen before any learner existed)
----------------------------------------------
On logs of ``default``: Spearman(item CTR, item true mean satisfaction) <= 0.2 and
Spearman(watch ratio, realised satisfaction | click) in [0.3, 0.6]; on ``aligned``
the first is >= 0.6. Sessions whose first consumption disappointed are shorter, and
unsatisfying sessions are followed by longer gaps and fewer returns.
:func:`difficulty_report` measures all of these; ``tests/test_world.py`` asserts them.

Observation, action, reward
---------------------------
The batch engine (:meth:`GroundTruthWorld.reset_batch`,
:meth:`GroundTruthWorld.step_batch`) takes a slate of ``K`` item ids per user in
session and returns, per stepped user, the clicked position (-1 for none), watch ratio
and time, the realised and expected satisfaction (hidden: for evaluation only) and
whether the session ended. A recommender sees only :class:`Histories` (the last ``L``
consumed items and their watch ratios). :meth:`GroundTruthWorld.run` drives any
object with ``recommend(histories) -> slates`` over a horizon of days, with return
behaviour. The platform metric is the viewing time per user over the horizon.

Starting state and episode end
------------------------------
Empty history, mood ``r``. A session ends when the user leaves; in multi-session runs the
user comes back after the gap or never (churn, or the gap crosses the horizon).

Presets
-------
``default`` (strong bait: clicks mislead), ``aligned`` (control: users are immune to
bait and clicks follow relevance and quality, so they track satisfaction) and
``polarising`` (large, skewed and bimodal satisfaction noise).

Version history
---------------
v0: initial release.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy import special

from mtrec_ray.config import from_dict, to_dict
from mtrec_ray.data.schema import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, SCHEMA_VERSION
from mtrec_ray.errors import ArtifactError, ConfigError

WORLD_FORMAT_VERSION = 1
SECONDS_PER_DAY = 86_400

LOG_COLUMNS: dict[str, str] = {
    **REQUIRED_COLUMNS,
    **{c: OPTIONAL_COLUMNS[c] for c in ("slate_id", "position", "click")},
    **{c: OPTIONAL_COLUMNS[c] for c in ("watch_time", "watch_ratio", "duration")},
}
"""Columns (and dtypes) of the logs the world writes, in the canonical schema."""

ProgressCallback = Callable[[int, int, str], None]


# --------------------------------------------------------------------------- config


@dataclass
class LoggingPolicyConfig:
    """Mixture of popular, random and relevant items the logging policy shows."""

    p_popular: float = 0.3
    """Probability that a slate position is filled from the popularity distribution."""
    p_random: float = 0.3
    """Probability that a slate position is filled uniformly at random."""
    p_relevant: float = 0.4
    """Probability that a slate position is filled from the user's relevant pool."""
    relevant_pool: int = 50
    """Size of each user's pool of relevant items (top by noisy relevance)."""
    relevant_noise: float = 0.5
    """Std of the noise added to relevance when building the pools (an imperfect model)."""
    popularity_temperature: float = 1.5
    """Popularity is softmax(temperature * standardised mean click appeal of the item)."""
    exclude_history: bool = True
    """Do not show items among the user's last consumed items."""

    def validate(self) -> None:
        """Raise ConfigError with a fix-it message for an invalid value."""
        probs = (self.p_popular, self.p_random, self.p_relevant)
        if min(probs) < 0:
            raise ConfigError(
                f"logging.p_popular/p_random/p_relevant must be >= 0, got {probs}; "
                "set each to a probability in [0, 1]"
            )
        if not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
            raise ConfigError(
                f"logging.p_popular + p_random + p_relevant must sum to 1, got {sum(probs):.4f}; "
                "rescale the three mixture weights"
            )
        if self.relevant_pool < 1:
            raise ConfigError(
                f"logging.relevant_pool must be >= 1, got {self.relevant_pool}; try 50"
            )
        if self.relevant_noise < 0:
            raise ConfigError(
                f"logging.relevant_noise must be >= 0, got {self.relevant_noise}; use 0 for "
                "an oracle pool"
            )


@dataclass
class WorldConfig:
    """Parameters of the ground-truth world (see the module docstring for the equations)."""

    preset: str = "default"
    """Name of the preset this configuration was built from (a label)."""
    n_items: int = 1000
    """Number of items N in the catalogue."""
    n_users: int = 3000
    """Number of users U."""
    topic_dim: int = 8
    """Dimension d of topic and preference vectors."""
    # items
    quality_sd: float = 1.0
    """sigma_q: std of item quality."""
    bait_quality_corr: float = -0.6
    """rho_bq: correlation of the latent bait with quality (negative: bait is worse)."""
    duration_median_s: float = 60.0
    """d_med: median item duration in seconds."""
    duration_log_sd: float = 1.0
    """sigma_d: std of log duration."""
    duration_min_s: float = 15.0
    """d_min: shortest item duration in seconds."""
    duration_max_s: float = 1200.0
    """d_max: longest item duration in seconds."""
    duration_bait_corr: float = -0.4
    """rho_db: correlation of log duration with the latent bait (negative: bait is short)."""
    noise_sd: float = 0.6
    """sigma_eps: median item spread of satisfaction noise."""
    noise_sd_log_sd: float = 0.4
    """s_sigma: heterogeneity (std of log) of the item noise spread."""
    skew_sd: float = 2.0
    """s_alpha: std of the item skew-normal shape parameter."""
    polarising_fraction: float = 0.1
    """p_pol: fraction of items with a bimodal (polarising) satisfaction."""
    polarisation_amplitude: float = 0.8
    """A: largest half-distance between the two modes of a polarising item."""
    # users
    shared_taste_sd: float = 0.5
    """s_c: std of the preference component shared by all users (popular topics)."""
    susceptibility_log_sd: float = 0.5
    """s_beta: std of log susceptibility to bait."""
    patience_log_sd: float = 0.5
    """s_kappa: std of log patience."""
    gap_days: float = 1.0
    """g: median over users of the typical gap between sessions, in days."""
    gap_log_sd: float = 0.5
    """s_g: std of the log typical gap across users."""
    # clicks
    click_relevance: float = 0.8
    """c_rel: weight of relevance in the click utility."""
    click_quality: float = 0.4
    """c_q: weight of quality in the click utility (what the thumbnail reveals)."""
    click_bait: float = 3.0
    """c_b: weight of bait (times susceptibility) in the click utility."""
    click_position_decay: float = 0.7
    """c_pos: position bias, utility lost per log(1 + position)."""
    click_none: float = 2.5
    """c_0: utility of clicking nothing."""
    # satisfaction
    sat_relevance: float = 0.8
    """s_rel: weight of relevance in the mental reward."""
    sat_quality: float = 1.0
    """s_q: weight of quality in the mental reward."""
    sat_bait: float = 1.5
    """s_b: disappointment per unit of bait."""
    satiation_topic: float = 0.5
    """eta_topic: satisfaction lost for a topic fully saturated by recent consumption."""
    satiation_repeat: float = 1.0
    """eta_rep: satisfaction lost for re-consuming a recent item."""
    satiation_decay: float = 0.7
    """lambda: weight decay per step back in the history for the satiation term."""
    history_len: int = 10
    """L: number of last consumed items kept in the state."""
    # watch
    watch_intercept: float = 0.0
    """w_0: watch-ratio logit intercept."""
    watch_satisfaction: float = 0.8
    """w_s: watch-ratio logit per unit of satisfaction."""
    watch_duration: float = 1.5
    """w_d: watch-ratio logit lost per unit of log(duration / d_ref)."""
    watch_duration_ref_s: float = 60.0
    """d_ref: duration in seconds at which duration does not shift the watch ratio."""
    watch_noise_sd: float = 1.5
    """sigma_w: std of the watch-ratio logit noise."""
    # mood, leaving, returning
    mood_rate: float = 0.3
    """alpha_m: EMA rate of mood towards the latest satisfaction."""
    mood_relax_days: float = 1.0
    """tau_m: time constant (days) of mood relaxing to 0 between sessions."""
    leave_intercept: float = -2.8
    """l_0: leave logit intercept."""
    leave_patience: float = 1.0
    """l_kappa: leave logit lost per unit of log patience."""
    leave_satisfaction: float = 0.8
    """l_s: leave logit lost per unit of the satisfaction just experienced."""
    leave_mood: float = 0.5
    """l_m: leave logit lost per unit of mood."""
    leave_no_click: float = 0.6
    """l_n: leave logit added after a slate with no click."""
    churn_intercept: float = -3.0
    """h_0: logit of never coming back at z = 0."""
    churn_satisfaction: float = 1.0
    """h_s: churn logit lost per unit of session mean satisfaction."""
    return_gap_satisfaction: float = 0.5
    """g_s: log gap lost per unit of session mean satisfaction."""
    no_click_session_satisfaction: float = -1.0
    """z_none: session satisfaction (relative to r) used for return when nothing was consumed."""
    satisfaction_reference: float = 0.0
    """r: satisfaction users expect; leaving and returning respond to s - r and m - r."""
    # sessions and time
    slate_size: int = 5
    """K: items per slate."""
    max_session_len: int = 50
    """T_max: slates after which a session ends anyway."""
    browse_time_s: float = 4.0
    """t_browse: mean extra seconds spent between slates."""
    horizon_days: float = 7.0
    """Days simulated by ``generate_logs`` and multi-session runs."""
    first_session_spread_days: float = 1.0
    """First sessions start uniformly within this many days."""
    logging: LoggingPolicyConfig = field(default_factory=LoggingPolicyConfig)
    """Logging policy used by ``generate_logs``."""

    def validate(self) -> None:
        """Raise ConfigError with a fix-it message for an invalid value."""
        positive_ints = ("n_items", "n_users", "topic_dim", "slate_size", "max_session_len")
        for name in positive_ints + ("history_len",):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"WorldConfig.{name} must be >= 1, got {getattr(self, name)}; "
                    f"set a positive integer (default {_DEFAULT_FIELD[name]})"
                )
        if self.n_items < 2 * self.slate_size:
            raise ConfigError(
                f"WorldConfig.n_items ({self.n_items}) must be at least 2 * slate_size "
                f"({2 * self.slate_size}) so slates hold distinct items; raise n_items or "
                "lower slate_size"
            )
        positive = (
            "quality_sd",
            "duration_median_s",
            "duration_min_s",
            "duration_max_s",
            "noise_sd",
            "gap_days",
            "watch_duration_ref_s",
            "mood_relax_days",
            "horizon_days",
            "first_session_spread_days",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"WorldConfig.{name} must be > 0, got {getattr(self, name)}; "
                    f"try the default {_DEFAULT_FIELD[name]}"
                )
        non_negative = (
            "duration_log_sd",
            "noise_sd_log_sd",
            "skew_sd",
            "polarisation_amplitude",
            "shared_taste_sd",
            "susceptibility_log_sd",
            "patience_log_sd",
            "gap_log_sd",
            "click_position_decay",
            "satiation_topic",
            "satiation_repeat",
            "watch_noise_sd",
            "browse_time_s",
        )
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ConfigError(
                    f"WorldConfig.{name} must be >= 0, got {getattr(self, name)}; "
                    f"try the default {_DEFAULT_FIELD[name]}"
                )
        for name in ("bait_quality_corr", "duration_bait_corr"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"WorldConfig.{name} is a correlation and must lie in [-1, 1], "
                    f"got {getattr(self, name)}"
                )
        for name in ("polarising_fraction", "satiation_decay"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"WorldConfig.{name} must lie in [0, 1], got {getattr(self, name)}"
                )
        if not 0.0 < self.mood_rate <= 1.0:
            raise ConfigError(
                f"WorldConfig.mood_rate must lie in (0, 1], got {self.mood_rate}; try 0.3"
            )
        if self.duration_min_s > self.duration_max_s:
            raise ConfigError(
                f"WorldConfig.duration_min_s ({self.duration_min_s}) exceeds duration_max_s "
                f"({self.duration_max_s}); swap or widen them"
            )
        if self.first_session_spread_days > self.horizon_days:
            raise ConfigError(
                f"WorldConfig.first_session_spread_days ({self.first_session_spread_days}) "
                f"exceeds horizon_days ({self.horizon_days}); first sessions must start "
                "within the horizon"
            )
        self.logging.validate()


_DEFAULT_FIELD: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(WorldConfig) if f.name != "logging"
}

PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "aligned": {
        "click_bait": 0.1,
        "click_quality": 1.5,
        "click_relevance": 0.8,
        "satisfaction_reference": 1.7,
    },
    "polarising": {
        "noise_sd": 1.2,
        "noise_sd_log_sd": 0.5,
        "skew_sd": 4.0,
        "polarising_fraction": 0.5,
        "polarisation_amplitude": 1.5,
    },
}
"""Overrides of the ``WorldConfig`` defaults that define each preset."""


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def world_config(preset: str = "default", **overrides: Any) -> WorldConfig:
    """Build the validated ``WorldConfig`` of a preset, with field overrides.

    Args:
        preset: One of ``PRESETS`` (``default``, ``aligned``, ``polarising``).
        **overrides: Field values replacing the preset's (``logging`` may be a dict).

    Raises:
        ConfigError: For an unknown preset, an unknown field or an invalid value.
    """
    if preset not in PRESETS:
        raise ConfigError(
            f"unknown world preset {preset!r}; known presets: {', '.join(sorted(PRESETS))}"
        )
    data = _merge({"preset": preset, **PRESETS[preset]}, overrides)
    if isinstance(data.get("logging"), LoggingPolicyConfig):
        data["logging"] = to_dict(data["logging"])
    return from_dict(WorldConfig, data)


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class Histories:
    """What a recommender sees for the users in session (one row each)."""

    rows: np.ndarray
    """Row of each user in the batch (int64 [n])."""
    user_ids: np.ndarray
    """User ids (int64 [n])."""
    items: np.ndarray
    """Last L consumed items, most recent last, -1 padded (int64 [n, L])."""
    watch_ratio: np.ndarray
    """Watch ratio of each of those items, NaN on padding (float64 [n, L])."""
    session_index: np.ndarray
    """0-based index of the user's current session (int64 [n])."""
    step_in_session: np.ndarray
    """Slates already shown in the current session (int64 [n])."""
    timestamp: np.ndarray
    """Time (s since the world's start) at which the next slate is shown (int64 [n])."""


@dataclass
class BatchState:
    """Mutable state of a batch of users in the world (row ``j`` is ``user_ids[j]``).

    Satisfaction-related fields are hidden from recommenders (see :meth:`histories`).
    """

    user_ids: np.ndarray
    """User ids (int64 [B])."""
    rng: np.random.Generator
    """Source of all randomness of the dynamics."""
    horizon_s: int | None
    """End of the simulated period in seconds, or None for single-session episodes."""
    active: np.ndarray
    """True while the user is in a session (bool [B])."""
    clock: np.ndarray
    """Time of the user's next slate (int64 [B], seconds since the world's start)."""
    session_index: np.ndarray
    """0-based index of the current (or last) session (int64 [B])."""
    step_in_session: np.ndarray
    """Slates shown in the current session (int64 [B])."""
    mood: np.ndarray
    """Mood m (float64 [B], hidden)."""
    hist_items: np.ndarray
    """Last L consumed items, most recent last, -1 padded (int64 [B, L])."""
    hist_watch_ratio: np.ndarray
    """Watch ratios of those items (float64 [B, L], NaN on padding)."""
    hist_satisfaction: np.ndarray
    """Realised satisfaction of those items (float64 [B, L], hidden)."""
    session_sat_sum: np.ndarray
    """Sum of satisfaction in the current session (float64 [B], hidden)."""
    session_clicks: np.ndarray
    """Consumptions in the current session (int64 [B])."""

    def histories(self) -> Histories:
        """The recommender's view of the users in session."""
        rows = np.flatnonzero(self.active)
        return Histories(
            rows=rows,
            user_ids=self.user_ids[rows],
            items=self.hist_items[rows],
            watch_ratio=self.hist_watch_ratio[rows],
            session_index=self.session_index[rows],
            step_in_session=self.step_in_session[rows],
            timestamp=self.clock[rows],
        )

    @property
    def n_active(self) -> int:
        """Number of users in session."""
        return int(self.active.sum())


@dataclass
class StepResponses:
    """Responses of the users stepped by one ``step_batch`` call (one row each)."""

    rows: np.ndarray
    """Row of each stepped user in the batch (int64 [n])."""
    user_ids: np.ndarray
    """User ids (int64 [n])."""
    slates: np.ndarray
    """Slates shown (int64 [n, K])."""
    timestamp: np.ndarray
    """Time the slate was shown; position k is seen at timestamp + k (int64 [n])."""
    session_index: np.ndarray
    """0-based session index of each user (int64 [n])."""
    step_in_session: np.ndarray
    """0-based index of this slate in its session (int64 [n])."""
    clicked_position: np.ndarray
    """Clicked slate position, -1 for no click (int64 [n])."""
    clicked_item: np.ndarray
    """Clicked item id, -1 for no click (int64 [n])."""
    watch_ratio: np.ndarray
    """Watch ratio of the clicked item, 0 without click (float64 [n])."""
    watch_time: np.ndarray
    """Seconds watched, 0 without click (float64 [n])."""
    satisfaction: np.ndarray
    """Realised mental reward, NaN without click (float64 [n], hidden)."""
    expected_satisfaction: np.ndarray
    """Expected mental reward of the consumed item in its state, NaN without click."""
    expected_satisfaction_slate: np.ndarray
    """Expected mental reward of every slate item had it been consumed (float64 [n, K])."""
    leave: np.ndarray
    """True when the session ended after this slate (bool [n])."""
    returns: np.ndarray
    """True when the user left and a next session starts within the horizon (bool [n])."""

    def __len__(self) -> int:
        return int(self.rows.shape[0])


class Recommender(Protocol):
    """Anything that maps the histories of users in session to slates."""

    def recommend(self, histories: Histories) -> np.ndarray:
        """Return item ids, int [len(histories.rows), K]."""
        ...


# --------------------------------------------------------------------------- helpers


def _rng(seed: int, *key: int) -> np.random.Generator:
    """Independent generator for one named stream of a seed."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return special.expit(x)


def _as_rng(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(int(rng))


def _empty_responses(k: int) -> StepResponses:
    ei = np.zeros(0, dtype=np.int64)
    ef = np.zeros(0, dtype=np.float64)
    eb = np.zeros(0, dtype=bool)
    return StepResponses(
        rows=ei,
        user_ids=ei,
        slates=np.zeros((0, k), dtype=np.int64),
        timestamp=ei,
        session_index=ei,
        step_in_session=ei,
        clicked_position=ei,
        clicked_item=ei,
        watch_ratio=ef,
        watch_time=ef,
        satisfaction=ef,
        expected_satisfaction=ef,
        expected_satisfaction_slate=np.zeros((0, k)),
        leave=eb,
        returns=eb,
    )


# --------------------------------------------------------------------------- world


class GroundTruthWorld:
    """The simulated platform; samples item and user parameters once from the seed.

    Args:
        config: World parameters (``world_config(preset)`` builds a preset's).
        seed: Seed of the item and user parameters (dynamics take their own generator).
    """

    def __init__(self, *, config: WorldConfig, seed: int) -> None:
        config.validate()
        self.config = config
        self.seed = int(seed)
        self.n_items = config.n_items
        self.n_users = config.n_users
        self.topic_dim = config.topic_dim
        self._sample_items()
        self._sample_users()
        decay = config.satiation_decay ** np.arange(config.history_len - 1, -1, -1, dtype=float)
        self._satiation_weights = decay / decay.sum()
        self._item_mean_satisfaction: np.ndarray | None = None

    # ---- parameters

    def _sample_items(self) -> None:
        c, n, d = self.config, self.config.n_items, self.config.topic_dim
        self.item_topic = _rng(self.seed, 0, 0).normal(0.0, 1.0 / math.sqrt(d), size=(n, d))
        norms = np.linalg.norm(self.item_topic, axis=1, keepdims=True)
        self.item_topic_unit = self.item_topic / np.maximum(norms, 1e-12)
        self.item_quality = _rng(self.seed, 0, 1).normal(0.0, c.quality_sd, size=n)
        rho = c.bait_quality_corr
        latent_bait = rho * self.item_quality / c.quality_sd + math.sqrt(1 - rho**2) * _rng(
            self.seed, 0, 2
        ).standard_normal(n)
        self.item_bait = special.ndtr(latent_bait)
        rho_d = c.duration_bait_corr
        log_d = math.log(c.duration_median_s) + c.duration_log_sd * (
            rho_d * latent_bait + math.sqrt(1 - rho_d**2) * _rng(self.seed, 0, 3).standard_normal(n)
        )
        self.item_duration = np.clip(np.exp(log_d), c.duration_min_s, c.duration_max_s)
        self.item_noise_sd = c.noise_sd * np.exp(
            c.noise_sd_log_sd * _rng(self.seed, 0, 4).standard_normal(n)
        )
        self.item_skew = _rng(self.seed, 0, 5).normal(0.0, 1.0, size=n) * c.skew_sd
        pol_rng = _rng(self.seed, 0, 6)
        is_pol = pol_rng.random(n) < c.polarising_fraction
        self.item_polarisation = np.where(
            is_pol, c.polarisation_amplitude * pol_rng.uniform(0.5, 1.0, size=n), 0.0
        )
        delta = self.item_skew / np.sqrt(1.0 + self.item_skew**2)
        self._skew_delta = delta
        self._skew_ortho = np.sqrt(1.0 - delta**2)
        self._skew_shift = delta * math.sqrt(2.0 / math.pi)
        self._skew_scale = 1.0 / np.sqrt(1.0 - 2.0 * delta**2 / math.pi)
        self.item_satisfaction_sd = np.sqrt(self.item_noise_sd**2 + self.item_polarisation**2)

    def _sample_users(self) -> None:
        c, n, d = self.config, self.config.n_users, self.config.topic_dim
        self.shared_taste = _rng(self.seed, 1, 0).normal(0.0, c.shared_taste_sd, size=d)
        self.user_pref = self.shared_taste + _rng(self.seed, 1, 1).standard_normal((n, d))
        self.user_susceptibility = np.exp(
            c.susceptibility_log_sd * _rng(self.seed, 1, 2).standard_normal(n)
        )
        self.user_patience = np.exp(c.patience_log_sd * _rng(self.seed, 1, 3).standard_normal(n))
        self.user_gap_days = c.gap_days * np.exp(
            c.gap_log_sd * _rng(self.seed, 1, 4).standard_normal(n)
        )

    # ---- ground truth

    def relevance(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """rel(u, i) = w_u . v_i for users [n] and items [n] or [n, m]."""
        u = np.asarray(user_ids, dtype=np.int64)
        i = np.asarray(item_ids, dtype=np.int64)
        if i.ndim == u.ndim:
            return np.einsum("nd,nd->n", self.user_pref[u], self.item_topic[i])
        return np.einsum("nd,nmd->nm", self.user_pref[u], self.item_topic[i])

    def _satiation(self, items: np.ndarray, hist: np.ndarray) -> np.ndarray:
        """Satiation penalty for items [n, m] given histories [n, L] (L = history_len)."""
        c = self.config
        valid = hist >= 0
        if not valid.any():
            return np.zeros(items.shape)
        h_topic = self.item_topic_unit[np.where(valid, hist, 0)]
        cos = np.einsum("nmd,nld->nml", self.item_topic_unit[items], h_topic)
        weights = valid * self._satiation_weights
        topic = np.einsum("nml,nl->nm", np.maximum(cos, 0.0), weights)
        repeat = (items[:, :, None] == hist[:, None, :]).any(axis=2)
        return c.satiation_topic * topic + c.satiation_repeat * repeat

    def _fit_history(self, history_items: np.ndarray, n: int) -> np.ndarray:
        length = self.config.history_len
        h = np.asarray(history_items, dtype=np.int64)
        if h.ndim != 2 or h.shape[0] != n:
            raise ValueError(
                f"history_items must have shape [n_pairs, L] = [{n}, L], got {h.shape}"
            )
        if h.shape[1] >= length:
            return h[:, h.shape[1] - length :]
        pad = np.full((n, length - h.shape[1]), -1, dtype=np.int64)
        return np.concatenate([pad, h], axis=1)

    def _check_ids(self, user_ids: np.ndarray, item_ids: np.ndarray) -> None:
        if user_ids.size and (user_ids.min() < 0 or user_ids.max() >= self.n_users):
            raise ValueError(f"user ids must lie in [0, {self.n_users}), got {user_ids}")
        if item_ids.size and (item_ids.min() < 0 or item_ids.max() >= self.n_items):
            raise ValueError(f"item ids must lie in [0, {self.n_items}), got {item_ids}")

    def expected_satisfaction(
        self,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        *,
        history_items: np.ndarray | None = None,
    ) -> np.ndarray:
        """True expected mental reward mu(u, i, h) of consuming items.

        Args:
            user_ids: Users, int [n].
            item_ids: Items, int [n] (one per user) or [n, m] (m candidates per user).
            history_items: Last consumed items per user, int [n, L'], most recent last,
                -1 padded; only the last ``history_len`` count. None: empty history.

        Returns:
            float64 array shaped like ``item_ids``.
        """
        u = np.atleast_1d(np.asarray(user_ids, dtype=np.int64))
        i = np.asarray(item_ids, dtype=np.int64)
        flat = i.ndim == 1
        items = i[:, None] if flat else i
        if items.ndim != 2 or items.shape[0] != u.shape[0]:
            raise ValueError(
                f"item_ids must have shape [n] or [n, m] with n = len(user_ids) = {u.shape[0]}, "
                f"got {i.shape}"
            )
        self._check_ids(u, items)
        mu = self._base_mu(u, items)
        if history_items is not None:
            mu = mu - self._satiation(items, self._fit_history(history_items, u.shape[0]))
        return mu[:, 0] if flat else mu

    def _base_mu(self, u: np.ndarray, items: np.ndarray) -> np.ndarray:
        c = self.config
        rel = np.einsum("nd,nmd->nm", self.user_pref[u], self.item_topic[items])
        return (
            c.sat_relevance * rel
            + c.sat_quality * self.item_quality[items]
            - c.sat_bait * self.item_bait[items]
        )

    def _noise(self, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u0 = np.abs(rng.standard_normal(items.shape))
        u1 = rng.standard_normal(items.shape)
        z = (
            self._skew_delta[items] * u0 + self._skew_ortho[items] * u1 - self._skew_shift[items]
        ) * self._skew_scale[items]
        sign = rng.integers(0, 2, size=items.shape) * 2 - 1
        return self.item_noise_sd[items] * z + self.item_polarisation[items] * sign

    def sample_satisfaction(
        self,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        *,
        rng: np.random.Generator | int,
        history_items: np.ndarray | None = None,
        n_samples: int | None = None,
    ) -> np.ndarray:
        """Draw realised mental rewards s = mu + noise.

        Args:
            user_ids: Users, int [n].
            item_ids: Items, int [n] or [n, m].
            rng: Generator (or seed) for the noise.
            history_items: As in :meth:`expected_satisfaction`.
            n_samples: If given, draw that many samples per pair (a trailing axis).
        """
        gen = _as_rng(rng)
        mu = self.expected_satisfaction(user_ids, item_ids, history_items=history_items)
        items = np.asarray(item_ids, dtype=np.int64)
        if n_samples is None:
            return mu + self._noise(items, gen)
        rep = np.broadcast_to(items[..., None], items.shape + (int(n_samples),))
        return mu[..., None] + self._noise(rep, gen)

    @property
    def item_mean_satisfaction(self) -> np.ndarray:
        """True mean satisfaction of each item over all users, empty history (float64 [N])."""
        if self._item_mean_satisfaction is None:
            c = self.config
            mean_pref = self.user_pref.mean(axis=0)
            self._item_mean_satisfaction = (
                c.sat_relevance * self.item_topic @ mean_pref
                + c.sat_quality * self.item_quality
                - c.sat_bait * self.item_bait
            )
        return self._item_mean_satisfaction

    def items_frame(self) -> pd.DataFrame:
        """Hidden item parameters, one row per item (evaluation only)."""
        df = pd.DataFrame(
            {
                "item_id": np.arange(self.n_items, dtype=np.int64),
                "quality": self.item_quality,
                "bait": self.item_bait,
                "duration": self.item_duration,
                "noise_sd": self.item_noise_sd,
                "skew": self.item_skew,
                "polarisation": self.item_polarisation,
                "satisfaction_sd": self.item_satisfaction_sd,
                "mean_satisfaction": self.item_mean_satisfaction,
            }
        )
        for k in range(self.topic_dim):
            df[f"topic_{k}"] = self.item_topic[:, k]
        return df

    def users_frame(self) -> pd.DataFrame:
        """Hidden user parameters, one row per user (evaluation only)."""
        df = pd.DataFrame(
            {
                "user_id": np.arange(self.n_users, dtype=np.int64),
                "susceptibility": self.user_susceptibility,
                "patience": self.user_patience,
                "gap_days": self.user_gap_days,
            }
        )
        for k in range(self.topic_dim):
            df[f"pref_{k}"] = self.user_pref[:, k]
        return df

    # ---- batch engine

    def reset_batch(
        self,
        user_ids: np.ndarray,
        rng: np.random.Generator | int,
        *,
        horizon_days: float | None = None,
        start_times: np.ndarray | None = None,
    ) -> BatchState:
        """Start a session for each user (empty history, mood ``r``).

        Args:
            user_ids: Users, int [B] (repeats allowed: independent copies).
            rng: Generator (or seed) for all randomness of the dynamics.
            horizon_days: None: one session per user (leaving ends the user's episode).
                Else users come back after a gap until this many days have passed.
            start_times: First slate time per user in seconds. Default: 0 for single
                sessions, uniform within ``first_session_spread_days`` otherwise.
        """
        gen = _as_rng(rng)
        u = np.atleast_1d(np.asarray(user_ids, dtype=np.int64))
        self._check_ids(u, np.zeros(0, dtype=np.int64))
        b, length = u.shape[0], self.config.history_len
        horizon_s = None if horizon_days is None else int(round(horizon_days * SECONDS_PER_DAY))
        if start_times is not None:
            clock = np.asarray(start_times, dtype=np.int64).copy()
            if clock.shape != (b,):
                raise ValueError(f"start_times must have shape [{b}], got {clock.shape}")
        elif horizon_s is None:
            clock = np.zeros(b, dtype=np.int64)
        else:
            spread = min(self.config.first_session_spread_days * SECONDS_PER_DAY, horizon_s)
            clock = np.floor(gen.random(b) * spread).astype(np.int64)
        return BatchState(
            user_ids=u,
            rng=gen,
            horizon_s=horizon_s,
            active=np.ones(b, dtype=bool),
            clock=clock,
            session_index=np.zeros(b, dtype=np.int64),
            step_in_session=np.zeros(b, dtype=np.int64),
            mood=np.full(b, self.config.satisfaction_reference),
            hist_items=np.full((b, length), -1, dtype=np.int64),
            hist_watch_ratio=np.full((b, length), np.nan),
            hist_satisfaction=np.full((b, length), np.nan),
            session_sat_sum=np.zeros(b),
            session_clicks=np.zeros(b, dtype=np.int64),
        )

    def step_batch(self, state: BatchState, slates: np.ndarray) -> tuple[StepResponses, BatchState]:
        """Show one slate to every user in session and simulate their responses.

        Args:
            state: Batch state from :meth:`reset_batch` (updated in place and returned).
            slates: Item ids, int [B, K]; rows of users not in session are ignored.

        Returns:
            The responses of the stepped users (``responses.rows`` maps them to the batch)
            and the state.
        """
        c = self.config
        slates = np.asarray(slates)
        b = state.user_ids.shape[0]
        if slates.ndim != 2 or slates.shape[0] != b or slates.shape[1] < 1:
            raise ValueError(f"slates must have shape [B, K] = [{b}, K>=1], got {slates.shape}")
        rows = np.flatnonzero(state.active)
        k = slates.shape[1]
        if rows.size == 0:
            return _empty_responses(k), state
        sl = slates[rows].astype(np.int64, copy=False)
        if sl.min() < 0 or sl.max() >= self.n_items:
            bad = rows[np.flatnonzero(((sl < 0) | (sl >= self.n_items)).any(axis=1))[0]]
            raise ValueError(
                f"slate of batch row {bad} holds item ids outside [0, {self.n_items}): "
                f"{slates[bad].tolist()}"
            )
        rng = state.rng
        n = rows.size
        u = state.user_ids[rows]
        hist = state.hist_items[rows]

        # click: multinomial logit over the slate and "no click" (Gumbel-max)
        rel = np.einsum("nd,nkd->nk", self.user_pref[u], self.item_topic[sl])
        utility = (
            c.click_relevance * rel
            + c.click_quality * self.item_quality[sl]
            + c.click_bait * self.user_susceptibility[u, None] * self.item_bait[sl]
            - c.click_position_decay * np.log1p(np.arange(k))
        )
        gumbel = rng.gumbel(size=(n, k + 1))
        choice = np.argmax(
            np.concatenate([c.click_none + gumbel[:, :1], utility + gumbel[:, 1:]], 1), 1
        )
        pos = choice - 1
        clicked = pos >= 0

        # mental reward of every slate item in the current state, realised for the click
        mu_slate = (
            c.sat_relevance * rel
            + c.sat_quality * self.item_quality[sl]
            - c.sat_bait * self.item_bait[sl]
            - self._satiation(sl, hist)
        )
        ci = np.flatnonzero(clicked)
        item = np.full(n, -1, dtype=np.int64)
        item[ci] = sl[ci, pos[ci]]
        exp_sat = np.full(n, np.nan)
        exp_sat[ci] = mu_slate[ci, pos[ci]]
        sat = np.full(n, np.nan)
        sat[ci] = exp_sat[ci] + self._noise(item[ci], rng)

        # watch: satisfaction-driven, duration-biased
        ratio = np.zeros(n)
        dur = self.item_duration[item[ci]]
        logit = (
            c.watch_intercept
            + c.watch_satisfaction * sat[ci]
            - c.watch_duration * np.log(dur / c.watch_duration_ref_s)
            + c.watch_noise_sd * rng.standard_normal(ci.size)
        )
        ratio[ci] = _sigmoid(logit)
        wtime = np.zeros(n)
        wtime[ci] = ratio[ci] * dur

        # mood, history, session accumulators
        mood = state.mood[rows]
        mood[ci] = (1.0 - c.mood_rate) * mood[ci] + c.mood_rate * sat[ci]
        state.mood[rows] = mood
        if ci.size:
            r = rows[ci]
            for arr, val in (
                (state.hist_items, item[ci]),
                (state.hist_watch_ratio, ratio[ci]),
                (state.hist_satisfaction, sat[ci]),
            ):
                arr[r, :-1] = arr[r, 1:]
                arr[r, -1] = val
            state.session_sat_sum[r] += sat[ci]
            state.session_clicks[r] += 1

        # leave
        ref = c.satisfaction_reference
        leave_logit = (
            c.leave_intercept
            - c.leave_patience * np.log(self.user_patience[u])
            - c.leave_mood * (mood - ref)
            + np.where(
                clicked, -c.leave_satisfaction * (np.nan_to_num(sat) - ref), c.leave_no_click
            )
        )
        timestamp = state.clock[rows].copy()
        step = state.step_in_session[rows].copy()
        leave = (rng.random(n) < _sigmoid(leave_logit)) | (step + 1 >= c.max_session_len)
        browse = 1 + np.floor(rng.exponential(max(c.browse_time_s, 1e-9), size=n))
        state.clock[rows] = (
            timestamp + k + np.ceil(wtime).astype(np.int64) + browse.astype(np.int64)
        )
        state.step_in_session[rows] = step + 1

        returns = np.zeros(n, dtype=bool)
        li = np.flatnonzero(leave)
        if li.size:
            returns[li] = self._end_sessions(state, rows[li])

        responses = StepResponses(
            rows=rows,
            user_ids=u,
            slates=sl,
            timestamp=timestamp,
            session_index=state.session_index[rows] - returns,
            step_in_session=step,
            clicked_position=pos,
            clicked_item=item,
            watch_ratio=ratio,
            watch_time=wtime,
            satisfaction=sat,
            expected_satisfaction=exp_sat,
            expected_satisfaction_slate=mu_slate,
            leave=leave,
            returns=returns,
        )
        return responses, state

    def _end_sessions(self, state: BatchState, rows: np.ndarray) -> np.ndarray:
        """End the sessions of ``rows``; schedule the next ones. Returns who comes back."""
        c = self.config
        if state.horizon_s is None:
            state.active[rows] = False
            return np.zeros(rows.size, dtype=bool)
        rng = state.rng
        clicks = state.session_clicks[rows]
        z = np.where(
            clicks > 0,
            state.session_sat_sum[rows] / np.maximum(clicks, 1) - c.satisfaction_reference,
            c.no_click_session_satisfaction,
        )
        churn = rng.random(rows.size) < _sigmoid(c.churn_intercept - c.churn_satisfaction * z)
        mean_gap = self.user_gap_days[state.user_ids[rows]] * np.exp(-c.return_gap_satisfaction * z)
        gap_s = np.ceil(rng.exponential(1.0, size=rows.size) * mean_gap * SECONDS_PER_DAY)
        gap_s = np.maximum(gap_s, 1).astype(np.int64)
        nxt = state.clock[rows] + gap_s
        back = ~churn & (nxt < state.horizon_s)
        r = rows[back]
        state.clock[r] = nxt[back]
        relax = np.exp(-gap_s[back] / (c.mood_relax_days * SECONDS_PER_DAY))
        ref = c.satisfaction_reference
        state.mood[r] = ref + (state.mood[r] - ref) * relax
        state.session_index[r] += 1
        state.step_in_session[r] = 0
        state.session_sat_sum[r] = 0.0
        state.session_clicks[r] = 0
        state.active[rows[~back]] = False
        return back

    def run(
        self,
        policy: Recommender | Callable[[Histories], np.ndarray],
        *,
        rng: np.random.Generator | int,
        user_ids: np.ndarray | None = None,
        horizon_days: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> Rollout:
        """Deploy a recommender in the world over a horizon, with leaving and returning.

        Args:
            policy: An object with ``recommend(histories) -> slates [n, K]`` or a callable.
            rng: Generator (or seed) of the world's dynamics.
            user_ids: Users to simulate (default: all).
            horizon_days: Simulated days (default ``config.horizon_days``).
            progress: Optional ``progress(done_users, total_users, description)``.

        Returns:
            The :class:`Rollout` with every shown slate and its responses.
        """
        recommend = policy.recommend if hasattr(policy, "recommend") else policy
        users = np.arange(self.n_users) if user_ids is None else np.asarray(user_ids)
        horizon = self.config.horizon_days if horizon_days is None else horizon_days
        state = self.reset_batch(users, rng, horizon_days=horizon)
        b = users.shape[0]
        steps: list[StepResponses] = []
        slates_buf: np.ndarray | None = None
        while state.n_active:
            hist = state.histories()
            rec = np.asarray(recommend(hist))
            if rec.ndim != 2 or rec.shape[0] != hist.rows.size:
                raise ValueError(
                    f"recommend() must return int [n_users_in_session, K] = "
                    f"[{hist.rows.size}, K], got shape {rec.shape}"
                )
            if slates_buf is None or slates_buf.shape[1] != rec.shape[1]:
                slates_buf = np.zeros((b, rec.shape[1]), dtype=np.int64)
            slates_buf[hist.rows] = rec
            resp, state = self.step_batch(state, slates_buf)
            steps.append(resp)
            if progress is not None:
                progress(b - state.n_active, b, "simulating users")
        return Rollout.concatenate(steps, user_ids=users, horizon_days=horizon)


# --------------------------------------------------------------------------- rollouts


@dataclass
class Rollout:
    """Every slate shown in a run, with the responses (slate-level arrays)."""

    user_ids: np.ndarray
    """Users of the run (int64 [B])."""
    horizon_days: float
    """Simulated days."""
    steps: StepResponses
    """Concatenated responses of all steps (rows refer to ``user_ids``)."""

    @classmethod
    def concatenate(
        cls, steps: list[StepResponses], *, user_ids: np.ndarray, horizon_days: float
    ) -> Rollout:
        """Join per-step responses into one rollout."""
        if not steps:
            joined = _empty_responses(1)
        else:
            k = max(s.slates.shape[1] for s in steps)
            if any(s.slates.shape[1] != k for s in steps):
                raise ValueError("all slates of a rollout must have the same size K")
            joined = StepResponses(
                **{
                    f.name: np.concatenate([getattr(s, f.name) for s in steps])
                    for f in dataclasses.fields(StepResponses)
                }
            )
        return cls(
            user_ids=np.asarray(user_ids, dtype=np.int64), horizon_days=horizon_days, steps=joined
        )

    def user_summary(self) -> pd.DataFrame:
        """Per batch row: sessions, slates, clicks, viewing time and true satisfaction."""
        s = self.steps
        b = self.user_ids.shape[0]
        clicked = s.clicked_position >= 0
        n_slates = np.bincount(s.rows, minlength=b)
        sessions = np.zeros(b, dtype=np.int64)
        np.maximum.at(sessions, s.rows, s.session_index + 1)
        clicks = np.bincount(s.rows, weights=clicked, minlength=b)
        sat_sum = np.bincount(s.rows, weights=np.nan_to_num(s.satisfaction), minlength=b)
        return pd.DataFrame(
            {
                "user_id": self.user_ids,
                "n_sessions": sessions,
                "n_slates": n_slates,
                "n_clicks": clicks.astype(np.int64),
                "watch_time": np.bincount(s.rows, weights=s.watch_time, minlength=b),
                "satisfaction_sum": sat_sum,
                "mean_satisfaction": np.where(clicks > 0, sat_sum / np.maximum(clicks, 1), np.nan),
            }
        )

    def to_frames(self, world: GroundTruthWorld) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Canonical logs (one row per exposure) and the aligned ground-truth table."""
        s = self.steps
        k = s.slates.shape[1]
        user = self.user_ids[s.rows]
        order = np.lexsort((s.timestamp, user))
        user = user[order]
        sess_idx = s.session_index[order]
        new_session = np.ones(order.size, dtype=bool)
        new_session[1:] = (user[1:] != user[:-1]) | (sess_idx[1:] != sess_idx[:-1])
        session_id = np.cumsum(new_session) - 1
        slate_id = np.arange(order.size, dtype=np.int64)
        positions = np.tile(np.arange(k, dtype=np.int64), order.size)
        items = s.slates[order].reshape(-1)
        clicked_pos = np.repeat(s.clicked_position[order], k)
        click = positions == clicked_pos

        def per_row(values: np.ndarray, fill: float) -> np.ndarray:
            return np.where(click, np.repeat(values[order], k), fill)

        logs = pd.DataFrame(
            {
                "user_id": np.repeat(user, k),
                "item_id": items,
                "timestamp": np.repeat(s.timestamp[order], k) + positions,
                "session_id": np.repeat(session_id, k).astype(np.int64),
                "slate_id": np.repeat(slate_id, k),
                "position": positions,
                "click": click.astype(np.int8),
                "watch_time": per_row(s.watch_time, 0.0),
                "watch_ratio": per_row(s.watch_ratio, 0.0),
                "duration": world.item_duration[items],
            }
        )
        logs = logs.astype(LOG_COLUMNS)
        ground_truth = pd.DataFrame(
            {
                "row": np.arange(len(logs), dtype=np.int64),
                "user_id": logs["user_id"].to_numpy(),
                "item_id": items,
                "slate_id": logs["slate_id"].to_numpy(),
                "satisfaction": per_row(s.satisfaction, np.nan),
                "expected_satisfaction": per_row(s.expected_satisfaction, np.nan),
                "expected_satisfaction_if_consumed": s.expected_satisfaction_slate[order].reshape(
                    -1
                ),
                "leave": np.repeat(s.leave[order], k),
            }
        )
        return logs, ground_truth


# --------------------------------------------------------------------------- logging policy


class LoggingPolicy:
    """The platform's logging policy: slates mixing popular, random and relevant items.

    Each slate position independently draws its source (popular / random / relevant
    with the configured probabilities): popular items by a softmax of their mean click
    appeal, uniform items, or items from the user's pool of ``relevant_pool`` items with
    the highest noisy relevance. Items are distinct within a slate and, optionally,
    not among the user's last consumed items.

    Args:
        world: The world whose users and items are served.
        rng: Generator (or seed) of the policy's randomness.
        config: Mixture parameters (default ``world.config.logging``).
        slate_size: Items per slate (default ``world.config.slate_size``).
    """

    def __init__(
        self,
        *,
        world: GroundTruthWorld,
        rng: np.random.Generator | int,
        config: LoggingPolicyConfig | None = None,
        slate_size: int | None = None,
    ) -> None:
        self.world = world
        self.config = config or world.config.logging
        self.config.validate()
        self.slate_size = slate_size or world.config.slate_size
        if world.n_items < 2 * self.slate_size:
            raise ConfigError(
                f"slate_size {self.slate_size} needs at least {2 * self.slate_size} items, "
                f"the world has {world.n_items}"
            )
        self.rng = _as_rng(rng)
        wc = world.config
        appeal = (
            wc.click_relevance * world.item_topic @ world.user_pref.mean(axis=0)
            + wc.click_quality * world.item_quality
            + wc.click_bait * world.user_susceptibility.mean() * world.item_bait
        )
        appeal = (appeal - appeal.mean()) / max(appeal.std(), 1e-12)
        logits = self.config.popularity_temperature * appeal
        pop = np.exp(logits - logits.max())
        self.popularity = pop / pop.sum()
        self._pop_cdf = np.cumsum(self.popularity)
        self._pop_cdf[-1] = 1.0
        self.pool = self._relevant_pools()

    def _relevant_pools(self) -> np.ndarray:
        w, cfg = self.world, self.config
        m = min(cfg.relevant_pool, w.n_items)
        pools = np.empty((w.n_users, m), dtype=np.int64)
        chunk = max(1, 2_000_000 // w.n_items)
        for start in range(0, w.n_users, chunk):
            stop = min(start + chunk, w.n_users)
            score = w.user_pref[start:stop] @ w.item_topic.T
            score += cfg.relevant_noise * self.rng.standard_normal(score.shape)
            pools[start:stop] = np.argpartition(-score, m - 1, axis=1)[:, :m]
        return pools

    def _candidates(self, user_ids: np.ndarray, m: int) -> np.ndarray:
        cfg, rng, n_items = self.config, self.rng, self.world.n_items
        n = user_ids.shape[0]
        source = rng.choice(3, size=(n, m), p=[cfg.p_popular, cfg.p_random, cfg.p_relevant])
        popular = np.searchsorted(self._pop_cdf, rng.random((n, m)), side="right")
        popular = np.minimum(popular, n_items - 1)
        uniform = rng.integers(0, n_items, size=(n, m))
        relevant = self.pool[user_ids[:, None], rng.integers(0, self.pool.shape[1], size=(n, m))]
        return np.choose(source, [popular, uniform, relevant])

    def recommend(self, histories: Histories) -> np.ndarray:
        """Slates for the users in session, int64 [n, slate_size]."""
        k = self.slate_size
        users = histories.user_ids
        n = users.shape[0]
        cand = self._candidates(users, 2 * k)
        blocked = self._blocked(cand, histories.items)
        order = np.argsort(blocked, axis=1, kind="stable")[:, :k]
        slates = np.take_along_axis(cand, order, axis=1)
        bad = np.take_along_axis(blocked, order, axis=1)
        while bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            fresh = self.rng.integers(0, self.world.n_items, size=(rows.size, k))
            slates[rows] = np.where(bad[rows], fresh, slates[rows])
            bad = np.zeros((n, k), dtype=bool)
            bad[rows] = self._blocked(slates[rows], histories.items[rows])
        return slates

    def _blocked(self, cand: np.ndarray, hist: np.ndarray) -> np.ndarray:
        """True where a candidate repeats an earlier one (or a recent consumption)."""
        m = cand.shape[1]
        earlier = np.tril(np.ones((m, m), dtype=bool), k=-1)
        blocked = ((cand[:, :, None] == cand[:, None, :]) & earlier).any(axis=2)
        if self.config.exclude_history:
            blocked |= (cand[:, :, None] == hist[:, None, :]).any(axis=2)
        return blocked


# --------------------------------------------------------------------------- logs


@dataclass
class WorldLogs:
    """Generated logs and the hidden ground truth that only evaluation reads."""

    logs: pd.DataFrame
    """Canonical interaction log, one row per exposed slate item (no satisfaction)."""
    ground_truth: pd.DataFrame
    """Per log row: satisfaction and its expectation (NaN unless clicked), leave flag."""
    items: pd.DataFrame
    """Hidden item parameters."""
    users: pd.DataFrame
    """Hidden user parameters."""
    config: WorldConfig
    """The world's configuration."""
    seed: int
    """The seed that built the world and its logs."""
    horizon_days: float
    """Simulated days."""

    def world(self) -> GroundTruthWorld:
        """Rebuild the exact world that generated these logs."""
        return GroundTruthWorld(config=self.config, seed=self.seed)


def generate_logs(
    config: WorldConfig,
    *,
    seed: int,
    n_users: int | None = None,
    horizon_days: float | None = None,
    progress: ProgressCallback | None = None,
) -> WorldLogs:
    """Build the world and log the logging policy's slates over a horizon.

    Args:
        config: World parameters.
        seed: Seed of the world and of the run.
        n_users: Number of users (default ``config.n_users``).
        horizon_days: Simulated days (default ``config.horizon_days``).
        progress: Optional ``progress(done_users, total_users, description)``.
    """
    if n_users is not None or horizon_days is not None:
        config = from_dict(
            WorldConfig,
            {
                **to_dict(config),
                **({"n_users": n_users} if n_users is not None else {}),
                **({"horizon_days": horizon_days} if horizon_days is not None else {}),
            },
        )
    world = GroundTruthWorld(config=config, seed=seed)
    policy = LoggingPolicy(world=world, rng=_rng(seed, 2, 0))
    rollout = world.run(policy, rng=_rng(seed, 2, 1), progress=progress)
    logs, ground_truth = rollout.to_frames(world)
    return WorldLogs(
        logs=logs,
        ground_truth=ground_truth,
        items=world.items_frame(),
        users=world.users_frame(),
        config=config,
        seed=int(seed),
        horizon_days=config.horizon_days,
    )


def save_world_logs(world_logs: WorldLogs, directory: str | Path) -> Path:
    """Write ``logs.parquet``, ``ground_truth/*.parquet`` and ``ground_truth/world.json``.

    Everything hidden (satisfaction, item and user parameters, the world's config and
    seed) lives under ``ground_truth/``, which only evaluation reads; ingesting the
    directory (``mtrec ingest --format world``) carries that folder through unchanged.

    Returns:
        The directory.
    """
    out = Path(directory)
    (out / "ground_truth").mkdir(parents=True, exist_ok=True)
    world_logs.logs.to_parquet(out / "logs.parquet", index=False)
    world_logs.ground_truth.to_parquet(out / "ground_truth" / "rows.parquet", index=False)
    world_logs.items.to_parquet(out / "ground_truth" / "items.parquet", index=False)
    world_logs.users.to_parquet(out / "ground_truth" / "users.parquet", index=False)
    meta = {
        "format": "mtrec-ground-truth-world",
        "format_version": WORLD_FORMAT_VERSION,
        "schema_version": SCHEMA_VERSION,
        "seed": world_logs.seed,
        "horizon_days": world_logs.horizon_days,
        "config": to_dict(world_logs.config),
        "counts": {
            "rows": len(world_logs.logs),
            "users": int(world_logs.logs["user_id"].nunique()),
            "items": int(world_logs.logs["item_id"].nunique()),
            "sessions": int(world_logs.logs["session_id"].nunique()),
            "clicks": int(world_logs.logs["click"].sum()),
        },
    }
    (out / WORLD_SPEC).write_text(json.dumps(meta, indent=2))
    return out


WORLD_SPEC = "ground_truth/world.json"


def load_world_spec(directory: str | Path) -> GroundTruthWorld:
    """Rebuild the exact world behind a saved world or a prepared dataset directory.

    Both keep ``ground_truth/world.json`` (config and seed); the world's parameters are
    a deterministic function of them. Evaluation uses this to ask for the true expected
    satisfaction of (state, item) pairs that were never logged.
    """
    spec = Path(directory) / WORLD_SPEC
    if not spec.exists():
        raise ArtifactError(
            f"{directory} has no {WORLD_SPEC}: ground truth exists only for data generated "
            "by the ground-truth world (`mtrec generate`)"
        )
    meta = json.loads(spec.read_text())
    if meta.get("format_version") != WORLD_FORMAT_VERSION:
        raise ArtifactError(
            f"{spec} has format_version {meta.get('format_version')!r}, this code reads "
            f"{WORLD_FORMAT_VERSION}; regenerate the logs"
        )
    return GroundTruthWorld(config=from_dict(WorldConfig, meta["config"]), seed=int(meta["seed"]))


def load_world_logs(directory: str | Path) -> WorldLogs:
    """Read what :func:`save_world_logs` wrote.

    Raises:
        ArtifactError: When a file is missing or the format version differs.
    """
    src = Path(directory)
    files = [
        src / WORLD_SPEC,
        src / "logs.parquet",
        src / "ground_truth" / "rows.parquet",
        src / "ground_truth" / "items.parquet",
        src / "ground_truth" / "users.parquet",
    ]
    missing = [str(p) for p in files if not p.exists()]
    if missing:
        raise ArtifactError(
            f"{src} is not a saved ground-truth world: missing {', '.join(missing)}; "
            "write one with `mtrec generate` or save_world_logs()"
        )
    meta = json.loads((src / WORLD_SPEC).read_text())
    if meta.get("format_version") != WORLD_FORMAT_VERSION:
        raise ArtifactError(
            f"{src / WORLD_SPEC} has format_version {meta.get('format_version')!r}, this "
            f"code reads {WORLD_FORMAT_VERSION}; regenerate the logs"
        )
    return WorldLogs(
        logs=pd.read_parquet(src / "logs.parquet"),
        ground_truth=pd.read_parquet(src / "ground_truth" / "rows.parquet"),
        items=pd.read_parquet(src / "ground_truth" / "items.parquet"),
        users=pd.read_parquet(src / "ground_truth" / "users.parquet"),
        config=from_dict(WorldConfig, meta["config"]),
        seed=int(meta["seed"]),
        horizon_days=float(meta["horizon_days"]),
    )


# --------------------------------------------------------------------------- statistics


def difficulty_report(world_logs: WorldLogs, *, min_exposures: int = 20) -> dict[str, float]:
    """Statistics that fix the world's difficulty (computed from logs + ground truth).

    Args:
        world_logs: Generated logs.
        min_exposures: Items with fewer exposures are left out of the item-level CTR
            correlation (their CTR is mostly sampling noise).

    Returns:
        ``ctr_vs_true_mean_spearman`` (item CTR vs true mean satisfaction),
        ``watch_ratio_vs_satisfaction_spearman`` (over clicked events),
        session-length and return statistics by session satisfaction, and sizes.
    """
    from scipy import stats

    logs, gt, items = world_logs.logs, world_logs.ground_truth, world_logs.items
    per_item = logs.groupby("item_id")["click"].agg(["sum", "count"])
    per_item = per_item[per_item["count"] >= min_exposures]
    ctr = per_item["sum"] / per_item["count"]
    true_mean = items.set_index("item_id").loc[per_item.index, "mean_satisfaction"]
    clicked = logs["click"].to_numpy() == 1
    sat = gt["satisfaction"].to_numpy()[clicked]
    wr = logs["watch_ratio"].to_numpy()[clicked]

    sess = session_table(world_logs)
    low = sess["mean_satisfaction"] <= sess["mean_satisfaction"].quantile(0.25)
    high = sess["mean_satisfaction"] >= sess["mean_satisfaction"].quantile(0.75)
    first_low = sess["first_satisfaction"] <= sess["first_satisfaction"].quantile(0.25)
    first_high = sess["first_satisfaction"] >= sess["first_satisfaction"].quantile(0.75)
    return {
        "rows": float(len(logs)),
        "sessions": float(len(sess)),
        "ctr": float(clicked.mean()),
        "mean_session_slates": float(sess["n_slates"].mean()),
        "ctr_vs_true_mean_spearman": float(stats.spearmanr(ctr, true_mean).statistic),
        "ctr_vs_true_mean_items": float(len(per_item)),
        "watch_ratio_vs_satisfaction_spearman": float(stats.spearmanr(wr, sat).statistic),
        "session_slates_after_low_first_satisfaction": float(
            sess.loc[first_low, "slates_after_first"].mean()
        ),
        "session_slates_after_high_first_satisfaction": float(
            sess.loc[first_high, "slates_after_first"].mean()
        ),
        "session_slates_vs_mean_satisfaction_spearman": float(
            stats.spearmanr(
                sess["n_slates"], sess["mean_satisfaction"], nan_policy="omit"
            ).statistic
        ),
        "return_rate_low_satisfaction": float(sess.loc[low, "returned"].mean()),
        "return_rate_high_satisfaction": float(sess.loc[high, "returned"].mean()),
        "gap_days_low_satisfaction": float(sess.loc[low, "gap_days"].median()),
        "gap_days_high_satisfaction": float(sess.loc[high, "gap_days"].median()),
    }


def session_table(world_logs: WorldLogs) -> pd.DataFrame:
    """One row per session: length, true satisfaction, and whether/when the user came back.

    ``returned`` is False and ``gap_days`` NaN for each user's last session.
    """
    logs, gt = world_logs.logs, world_logs.ground_truth
    clicked = logs["click"].to_numpy() == 1
    ev = pd.DataFrame(
        {
            "session_id": logs["session_id"].to_numpy()[clicked],
            "slate_id": logs["slate_id"].to_numpy()[clicked],
            "satisfaction": gt["satisfaction"].to_numpy()[clicked],
        }
    )
    g = logs.groupby("session_id", sort=True)
    sess = pd.DataFrame(
        {
            "user_id": g["user_id"].first(),
            "start": g["timestamp"].min(),
            "end": g["timestamp"].max(),
            "first_slate": g["slate_id"].min(),
            "n_slates": g["slate_id"].nunique(),
        }
    )
    eg = ev.groupby("session_id", sort=True)
    sess["mean_satisfaction"] = eg["satisfaction"].mean()
    first = ev.drop_duplicates("session_id").set_index("session_id")
    sess["first_satisfaction"] = first["satisfaction"]
    sess["slates_after_first"] = sess["first_slate"] + sess["n_slates"] - 1 - first["slate_id"]
    nxt_user = sess["user_id"].shift(-1)
    returned = (nxt_user == sess["user_id"]).to_numpy()
    sess["returned"] = returned
    sess["gap_days"] = np.where(
        returned, (sess["start"].shift(-1) - sess["end"]) / SECONDS_PER_DAY, np.nan
    )
    return sess.reset_index()

"""Configuration of QR-IQL (distributional inverse soft-Q learning).

Precedence: dataclass defaults < YAML < ``--set irl.<field>=value`` (see
``mtrec_ray.config``). ``IRLConfig.smoke()`` is the tiny variant used by tests.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from mtrec_ray.errors import ConfigError
from mtrec_ray.models.reward_model import RewardModelConfig

Evidence = Literal["all", "continuation"]


@dataclass
class IRLConfig:
    """QR-IQL: model, behaviour structure, objective and optimisation."""

    model: RewardModelConfig = field(default_factory=RewardModelConfig)
    """Architecture of the mental reward model rho(s, x)."""
    gamma: float = 0.9
    """Discount of the user's soft-optimal planning; 0 is behaviour cloning of engagement."""
    evidence: Evidence = "all"
    """Behaviour the reward is learned from: all (depth, going on, returning) or continuation."""
    use_click: bool = True
    """Also explain the click choice (utility = weight * E[rho] + per-item attraction)."""
    item_attraction: bool = True
    """Per-item click attraction (thumbnail appeal, bait) that rho cannot absorb."""
    attraction_rank: int = 2
    """Rank of a user-specific click attraction (absorbs e.g. bait susceptibility)."""
    item_prior: float = 0.0
    """Strength of the prior tying rho's item bias to a linear function of click attraction."""
    use_return: bool = True
    """Explain coming back within return_days after a session ends."""
    use_mood: bool = True
    """Mood state: an EMA of the mental rewards consumed earlier in the session."""
    depth: Literal["gaussian", "buckets"] = "gaussian"
    """Watch depth: gaussian on logit(watch ratio) (continuous action) or ordered buckets."""
    n_depth: int = 8
    """Watch-depth actions when depth = buckets (equal-frequency buckets of the ratio)."""
    max_mood: int = 8
    """Earlier consumptions of the session that enter the mood."""
    return_days: float = 2.0
    """A user 'returns' when the next session starts within this many days."""
    state_hidden: int = 32
    """Hidden width of the state (nuisance) and critic networks."""
    td_weight: float = 1.0
    """Weight of the quantile Huber (soft Bellman) loss of the critic."""
    kappa: float = 1.0
    """Huber threshold of the quantile loss."""
    l2_items: float = 1e-4
    """L2 penalty on the item embeddings used in a batch."""
    lr: float = 1e-2
    """Adam learning rate."""
    batch_size: int = 1024
    """Events per gradient step."""
    epochs: int = 12
    """Maximum epochs."""
    target_every: int = 1
    """Epochs between refreshes of the lagged weights (one round of targets)."""
    patience: int = 3
    """Epochs without a better validation loss before stopping."""
    seed: int = 0
    """Seed of initialisation and batching."""
    device: str = "cpu"
    """Torch device of the plain training loop (cpu, cuda, cuda:1...)."""

    def validate(self) -> None:
        """Check ranges; messages say how to fix the value."""
        self.model.validate()
        if not 0.0 <= self.gamma < 1.0:
            raise ConfigError(f"irl.gamma must be in [0, 1), got {self.gamma} (try 0.9; 0 = no lookahead)")
        if self.evidence not in ("all", "continuation"):
            raise ConfigError(f"irl.evidence must be all or continuation, got {self.evidence!r}")
        if self.depth not in ("gaussian", "buckets"):
            raise ConfigError(f"irl.depth must be gaussian or buckets, got {self.depth!r}")
        if self.n_depth < 2:
            raise ConfigError(f"irl.n_depth must be >= 2, got {self.n_depth} (try 8)")
        if self.max_mood < 1 or self.state_hidden < 1:
            raise ConfigError("irl.max_mood and irl.state_hidden must be >= 1")
        if self.return_days <= 0:
            raise ConfigError(f"irl.return_days must be > 0, got {self.return_days} (try 2)")
        if self.attraction_rank < 0 or self.item_prior < 0:
            raise ConfigError("irl.attraction_rank and irl.item_prior must be >= 0")
        if self.td_weight < 0 or self.kappa < 0 or self.l2_items < 0:
            raise ConfigError("irl.td_weight, irl.kappa and irl.l2_items must be >= 0")
        if self.lr <= 0:
            raise ConfigError(f"irl.lr must be > 0, got {self.lr} (try 1e-2)")
        if self.batch_size < 1 or self.epochs < 1 or self.target_every < 1 or self.patience < 1:
            raise ConfigError("irl.batch_size, irl.epochs, irl.target_every, irl.patience must be >= 1")

    def replace(self, **changes: object) -> IRLConfig:
        """A validated copy with some fields changed (ablations: ``replace(gamma=0.0)``)."""
        new = dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        new.validate()
        return new

    @classmethod
    def smoke(cls) -> IRLConfig:
        """Tiny, fast variant for tests and ``--smoke`` runs."""
        return cls(
            model=RewardModelConfig(dim=16, n_quantiles=8, max_history=10, hidden=16),
            state_hidden=16, epochs=3, batch_size=512,
        )

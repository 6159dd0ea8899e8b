"""Typed configuration of an RLlib policy run (``mtrec rl --config FILE``).

Defaults < YAML < ``--set``; ``RLConfig.smoke()`` is the tiny variant tests use. Example
YAML (``rl_configs/ppo_user_session_click.yaml``)::

    env:
      name: mtrec/UserSession-v0
      kwargs: {artifact: runs/sim}
      reward: click
    ppo: {lr: 0.0003, train_batch_size: 4000}
    runners: {num_env_runners: 1, num_envs_per_env_runner: 64}
    iterations: 30
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mtrec_ray.errors import ConfigError


@dataclass
class SimulatorSpecConfig:
    """Which simulator to train in, with which arguments and reward."""

    name: str = "mtrec/UserSession-v0"
    """Registry name (see ``envs.registry.names()``) or a ``module.path:Factory`` string."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the simulator (e.g. ``artifact``, ``slate_size``, ``preset``)."""
    reward: str = "click"
    """click, watch_time, watch_ratio, satisfaction (world only), mental:DIR, module:Factory."""

    def validate(self) -> None:
        """Raise ConfigError for an empty name."""
        if not self.name.strip():
            raise ConfigError("env.name must name a simulator, e.g. mtrec/UserSession-v0")


@dataclass
class PPOSettings:
    """PPO hyper-parameters (RLlib new API stack)."""

    lr: float = 3e-4
    """Adam learning rate."""
    gamma: float = 0.95
    """Discount factor per slate."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    train_batch_size: int = 4000
    """Env steps per training iteration."""
    minibatch_size: int = 500
    """SGD minibatch size."""
    num_epochs: int = 4
    """Passes over each training batch (RLlib's default 30 is learner-bound on CPU)."""
    entropy_coeff: float = 0.01
    """Entropy bonus (keeps a wide catalogue explored)."""
    clip_param: float = 0.2
    """PPO clip range."""
    vf_loss_coeff: float = 0.5
    """Value-loss weight."""
    hidden: list[int] = field(default_factory=lambda: [128, 128])
    """Hidden layer sizes of the policy and value MLPs."""

    def validate(self) -> None:
        """Raise ConfigError with a fix-it message for an invalid value."""
        if not self.lr > 0:
            raise ConfigError(f"ppo.lr must be > 0, got {self.lr}")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 <= self.gae_lambda <= 1.0:
            raise ConfigError("ppo.gamma and ppo.gae_lambda must lie in [0, 1]")
        if self.train_batch_size < 1 or self.minibatch_size < 1 or self.num_epochs < 1:
            raise ConfigError("ppo.train_batch_size, minibatch_size and num_epochs must be >= 1")
        if self.minibatch_size > self.train_batch_size:
            raise ConfigError(
                f"ppo.minibatch_size ({self.minibatch_size}) exceeds train_batch_size "
                f"({self.train_batch_size}); lower it"
            )
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError("ppo.hidden must list positive layer sizes, e.g. [128, 128]")


@dataclass
class RunnersConfig:
    """Env runners: how many, and how many users each simulates at once."""

    num_env_runners: int = 1
    """Remote env-runner actors (0 samples in the driver)."""
    num_envs_per_env_runner: int = 32
    """Users per runner, simulated as one batch by the simulator's vector env."""
    rollout_fragment_length: int = 0
    """Steps per env per sample call; 0 lets RLlib derive it from the batch size."""
    cpus_per_env_runner: float = 1.0
    """CPUs reserved per remote env runner."""
    resources_per_env_runner: dict[str, float] = field(default_factory=dict)
    """Custom resources per env runner, e.g. {rollout: 0.01} to keep runners on the CPU
    worker type of ``cluster.yaml``."""

    def validate(self) -> None:
        """Raise ConfigError for negative counts."""
        if self.num_env_runners < 0 or self.num_envs_per_env_runner < 1 or self.rollout_fragment_length < 0:
            raise ConfigError(
                "runners.num_env_runners must be >= 0, num_envs_per_env_runner >= 1 and "
                "rollout_fragment_length >= 0"
            )
        if self.cpus_per_env_runner <= 0 or any(v < 0 for v in self.resources_per_env_runner.values()):
            raise ConfigError("runners.cpus_per_env_runner must be > 0 and resources_per_env_runner >= 0")


@dataclass
class RLConfig:
    """One RLlib policy run: simulator, reward, algorithm, runners and checkpointing."""

    env: SimulatorSpecConfig = field(default_factory=SimulatorSpecConfig)
    """Simulator and reward."""
    algorithm: str = "PPO"
    """RLlib algorithm (PPO on the new API stack)."""
    ppo: PPOSettings = field(default_factory=PPOSettings)
    """PPO hyper-parameters."""
    runners: RunnersConfig = field(default_factory=RunnersConfig)
    """Env runners."""
    iterations: int = 20
    """Training iterations in total (a resumed run continues up to this number)."""
    checkpoint_every: int = 5
    """Save a checkpoint every N iterations (and always after the last)."""
    keep_checkpoints: int = 2
    """Most recent checkpoints kept on disk."""
    seed: int = 0
    """Seed of RLlib and the simulators."""

    def validate(self) -> None:
        """Raise ConfigError with a fix-it message for an invalid value."""
        if self.algorithm.upper() != "PPO":
            raise ConfigError(f"algorithm {self.algorithm!r} is not supported yet; use PPO")
        if self.iterations < 1 or self.checkpoint_every < 1 or self.keep_checkpoints < 1:
            raise ConfigError("iterations, checkpoint_every and keep_checkpoints must be >= 1")

    def as_smoke(self) -> RLConfig:
        """The same simulator and reward with the tiny ``smoke`` sizes (``--smoke``)."""
        tiny = RLConfig.smoke()
        return RLConfig(env=self.env, algorithm=self.algorithm, ppo=tiny.ppo, runners=tiny.runners,
                        iterations=tiny.iterations, checkpoint_every=1, keep_checkpoints=1, seed=self.seed)

    @classmethod
    def smoke(cls, **env: Any) -> RLConfig:
        """A tiny run for tests: 1 iteration, small batches, 1 runner of 8 users."""
        return cls(
            env=SimulatorSpecConfig(**env) if env else SimulatorSpecConfig(),
            ppo=PPOSettings(train_batch_size=256, minibatch_size=128, num_epochs=1, hidden=[32]),
            runners=RunnersConfig(num_env_runners=1, num_envs_per_env_runner=8),
            iterations=1,
            checkpoint_every=1,
        )

"""A custom user simulator plugged into mtrec-ray, by each of the three routes.

``TopicSim`` is a deliberately small user model: users like some topics; an item's
click probability rises with the match between its topic and the user's taste; a
consumed item is watched in proportion to that match; bored users leave. It follows
the simulator protocol of ``envs.registry`` (spaces, ``n_items``, ``info["response"]``
with the required fields, a ``history_observer`` so trained policies can serve as
recommenders, randomness only from ``self.np_random``).

Plugging it in:

1. Python: ``envs.register("example/TopicSim-v0", TopicSim)``;
2. a string in a config: ``env.name: examples.custom_simulator:TopicSim``;
3. an entry point of your package::

       [project.entry-points."mtrec_ray.simulators"]
       "example/TopicSim-v0" = "examples.custom_simulator:TopicSim"

How to run (from the repository root)::

    python examples/custom_simulator.py          # register, check, one random session
    python examples/custom_simulator.py --ppo    # plus one PPO iteration on it

What you should see: the registered simulator names, "protocol check passed", a
session's length and click rate, and with ``--ppo`` one "mtrec rl: iter 1/1" line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

if __package__ in (None, "") and str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envs.user_session import HistoryObserver, action_space_for, validate_actions  # noqa: E402
from mtrec_ray.recommenders import Histories  # noqa: E402
from mtrec_ray.rl.rewards import RewardContext, RewardFunction, resolve_reward  # noqa: E402


class TopicSim(gym.Env[np.ndarray, Any]):
    """Users with topic tastes, items with topics; a toy plug-in simulator.

    ## Description
    Each episode is one session of a user with a random taste over ``n_topics``.

    ## Observation space
    The history observer's ``Box`` (encoded consumed items and session statistics).

    ## Action space
    ``Discrete(n_items)`` or ``MultiDiscrete([n_items] * slate_size)``.

    ## Reward
    Any ``mtrec_ray.rl.rewards`` spec (``click`` by default).

    ## Starting state
    A random taste vector, empty history.

    ## Episode end
    Terminated when the user leaves (more likely after a poor match); truncated after
    ``max_session_len`` steps.

    ## Arguments
    ``n_items`` (200), ``n_topics`` (5), ``slate_size`` (1), ``max_session_len`` (20),
    ``reward`` ("click"), ``catalogue_seed`` (0).

    ## Version history
    v0: initial release.
    """

    metadata = {"render_modes": []}
    has_true_satisfaction = False

    def __init__(self, *, n_items: int = 200, n_topics: int = 5, slate_size: int = 1,
                 max_session_len: int = 20, reward: str | RewardFunction = "click",
                 catalogue_seed: int = 0) -> None:
        self.n_items = int(n_items)
        self.slate_size = int(slate_size)
        self.max_session_len = int(max_session_len)
        g = np.random.default_rng(catalogue_seed)
        self.item_topic = g.integers(0, n_topics, size=self.n_items)
        self.n_topics = int(n_topics)
        self.reward_fn = resolve_reward(reward)
        self.history_observer = HistoryObserver.random(n_items=self.n_items, history_len=10, seed=catalogue_seed)
        self.observation_space = self.history_observer.observation_space
        self.action_space = action_space_for(self.n_items, self.slate_size)
        self._hist = Histories.empty(1, 10)
        self._taste = np.zeros(self.n_topics)

    def _obs(self) -> np.ndarray:
        return self.history_observer.observe(self._hist)[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._taste = self.np_random.dirichlet(np.ones(self.n_topics))
        self._hist = Histories.empty(1, 10)
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        slate = validate_actions(action, n_items=self.n_items, slate_size=self.slate_size, batch=None)[0]
        match = self._taste[self.item_topic[slate]] * self.n_topics  # ~1 on average
        p = 1.0 / (1.0 + np.exp(-(match - 1.0) * 2.0))
        clicks = self.np_random.random(slate.size) < p
        pos = int(np.argmax(clicks)) if clicks.any() else -1
        item = int(slate[pos]) if pos >= 0 else -1
        wr = float(np.clip(match[pos] / 2 + 0.1 * self.np_random.standard_normal(), 0, 1)) if pos >= 0 else 0.0
        leave = bool(self.np_random.random() < (0.05 if wr > 0.5 else 0.25))
        response = {"click": int(pos >= 0), "clicked_item": item, "position": pos,
                    "watch_ratio": wr, "watch_time": 60.0 * wr, "leave": leave}
        before = self._hist.select(np.arange(1))
        self._hist.push(np.array([item]), np.array([wr]))
        ctx = RewardContext(histories=before, slate=slate[None, :],
                            response={k: np.asarray([v]) for k, v in response.items()})
        reward = float(self.reward_fn(ctx)[0])
        truncated = not leave and int(self._hist.session_step[0]) >= self.max_session_len
        return self._obs(), reward, leave, truncated, {"response": response}


def make_topic_sim(**kwargs: Any) -> TopicSim:
    """A factory function (any callable returning a protocol-following env works)."""
    return TopicSim(**kwargs)


def main(argv: list[str] | None = None) -> int:
    """Register TopicSim, check it, run one random session (and one PPO iteration)."""
    import envs
    from envs.registry import check_simulator

    argv = sys.argv[1:] if argv is None else argv
    if "example/TopicSim-v0" not in envs.names():
        envs.register("example/TopicSim-v0", TopicSim, description="toy topic-taste users")
    print("registered:", ", ".join(envs.names()))
    env = envs.make("example/TopicSim-v0", slate_size=3)
    check_simulator(env)
    print("protocol check passed")
    env.reset(seed=0)
    steps, clicks, done = 0, 0, False
    while not done:
        _, _, term, trunc, info = env.step(env.action_space.sample())
        steps, clicks, done = steps + 1, clicks + info["response"]["click"], term or trunc
    print(f"one random session: {steps} slates, click rate {clicks / steps:.2f}")
    if "--ppo" in argv:
        import tempfile

        from mtrec_ray.rl.config import RLConfig
        from mtrec_ray.rl.train import train_policy

        cfg = RLConfig.smoke(name="examples.custom_simulator:TopicSim", kwargs={"slate_size": 3})
        with tempfile.TemporaryDirectory() as tmp:
            train_policy(cfg, out_dir=tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

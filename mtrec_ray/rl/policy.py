"""A trained RLlib policy served as a ``Recommender`` (no Ray needed at inference).

``PolicyRecommender.load(run_dir)`` reads ``run.json``, loads the RL module of the
latest checkpoint with ``RLModule.from_checkpoint`` and rebuilds the simulator's
history observer (the same encoding the policy was trained on), so it can recommend
from any ``Histories``, including inside the ground-truth world's A/B test.

Slates: a ``Discrete(n_items)`` policy recommends its top-k items by logit; a
``MultiDiscrete`` (slate) policy fills slot j with its best item for slot j not yet
in the slate, or, for another k, the top-k of its mean per-slot log-probabilities.
``sample=True`` draws items from the policy's distribution instead (without repeats).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mtrec_ray.errors import ArtifactError
from mtrec_ray.recommenders import Histories


class PolicyRecommender:
    """An RLlib RL module plus the history observer it was trained with."""

    def __init__(self, *, module: Any, observer: Any, n_items: int, slate_size: int,
                 name: str = "ppo", sample: bool = False) -> None:
        self.module = module
        self.observer = observer
        self.n_items = int(n_items)
        self.slate_size = int(slate_size)
        self.name = name
        self.sample = sample

    @classmethod
    def load(cls, run_dir: str | Path, *, name: str | None = None, sample: bool = False) -> PolicyRecommender:
        """Load the latest checkpoint of a run written by ``train_policy``.

        Raises:
            ArtifactError: not a run, no checkpoint, or a simulator without a history
                observer (its policy cannot read recommender-side histories).
        """
        import torch
        from ray.rllib.core.rl_module.rl_module import RLModule

        from envs.registry import make
        from mtrec_ray.rl.train import read_run

        torch.set_num_threads(1)
        run = Path(run_dir)
        meta = read_run(run)
        if not meta.get("checkpoint"):
            raise ArtifactError(f"{run} has no checkpoint yet")
        module_dir = run / meta["checkpoint"] / meta["rl_module"]
        if not module_dir.exists():
            raise ArtifactError(f"{module_dir} is missing: the checkpoint is incomplete")
        sim = meta["simulator"]
        env = make(sim["name"], **sim["kwargs"])
        observer = getattr(env, "history_observer", None)
        if observer is None:
            raise ArtifactError(
                f"simulator {sim['name']!r} has no history_observer, so its policy cannot serve "
                "recommender-side histories; give the simulator one (see envs.registry)"
            )
        slate = 1 if env.action_space.shape == () else int(env.action_space.shape[0])
        module = RLModule.from_checkpoint(str(module_dir.resolve()))
        module.eval()
        return cls(module=module, observer=observer, n_items=env.n_items, slate_size=slate,
                   name=name or f"ppo:{run.name}", sample=sample)

    def logits(self, histories: Histories) -> np.ndarray:
        """Action-distribution inputs ``[B, n_items * slate_size]`` for the histories."""
        import torch
        from ray.rllib.core.columns import Columns

        obs = self.observer.observe(histories)
        with torch.no_grad():
            out = self.module.forward_inference({Columns.OBS: torch.from_numpy(obs)})
        return out[Columns.ACTION_DIST_INPUTS].detach().cpu().numpy().astype(np.float64)

    def recommend(self, histories: Histories, k: int, *, rng: np.random.Generator | None = None) -> np.ndarray:
        """``[B, k]`` distinct item ids per user (see the module docstring)."""
        if not 1 <= k <= self.n_items:
            raise ValueError(f"k must be in 1..{self.n_items}, got {k}")
        logits = self.logits(histories)
        b = logits.shape[0]
        if self.slate_size == 1:
            scores = logits
        else:
            per_slot = logits.reshape(b, self.slate_size, self.n_items)
            per_slot = per_slot - np.logaddexp.reduce(per_slot, axis=2, keepdims=True)
            if k == self.slate_size and not self.sample:
                out = np.empty((b, k), np.int64)
                taken = np.zeros((b, self.n_items), bool)
                for j in range(k):
                    s = np.where(taken, -np.inf, per_slot[:, j])
                    out[:, j] = s.argmax(1)
                    taken[np.arange(b), out[:, j]] = True
                return out
            scores = per_slot.mean(axis=1)
        if self.sample:
            g = rng if rng is not None else np.random.default_rng()
            scores = scores + g.gumbel(size=scores.shape)
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1).astype(np.int64)

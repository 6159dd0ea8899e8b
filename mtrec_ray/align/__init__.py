"""Alignment: reward-guided recommenders (MTRec SASRec / GRU4Rec, PPO) judged in the world.

``mtrec_ray.align.pipeline`` trains the arms and runs the paired A/B comparisons
(``mtrec align``, ``mtrec demo``); ``mtrec_ray.align.report`` writes the self-contained
``report.html``; ``mtrec_ray.align.demo`` is ``mtrec demo`` end to end.
"""

from __future__ import annotations

from mtrec_ray.align.pipeline import (
    AlignConfig,
    ArmPair,
    arm_pairs,
    headline,
    pair_lifts,
    run_arms_ab,
    train_rl_arms,
    train_seqrec_arms,
)
from mtrec_ray.align.report import Section, write_report

__all__ = [
    "AlignConfig",
    "ArmPair",
    "arm_pairs",
    "headline",
    "pair_lifts",
    "Section",
    "run_arms_ab",
    "train_rl_arms",
    "train_seqrec_arms",
    "write_report",
]

"""Evaluation: reward recovery against the ground truth, baselines, ranking metrics, A/B tests.

Modules are imported directly (``mtrec_ray.eval.reward_recovery``, ``.baselines``,
``.irl_quality``, ``.ranking``, ``.ab``, ``.fidelity``); importing the package loads none
of them.
"""

from __future__ import annotations

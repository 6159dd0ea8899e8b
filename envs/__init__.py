"""Gymnasium simulators of mtrec-ray and their registry.

One module per simulator: ``envs.ground_truth_world`` is the synthetic platform whose
users have a hidden mental reward (the embedded default data set and the judge of every
learned reward and recommender). This package never imports Ray.
"""

from envs.registry import make, make_vec, names, register, register_gymnasium_ids

register_gymnasium_ids()

__all__ = ["make", "make_vec", "names", "register"]

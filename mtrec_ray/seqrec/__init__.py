"""Sequential recommenders guided by the mental reward: SASRec / GRU4Rec and MTRec variants.

``build_sequences`` turns canonical events into per-user consumed-item sequences with
leave-one-out splits; ``train_seqrec`` trains (plain loop or Ray Train) with full-catalogue
cross-entropy, optionally reward-weighted; ``evaluate_ranking`` (``mtrec_ray.eval.ranking``)
scores full-ranking HR/NDCG/MRR; ``SeqRecRecommender`` serves the ``Recommender`` interface.
"""

from __future__ import annotations

from mtrec_ray.eval.ranking import evaluate_ranking
from mtrec_ray.seqrec.data import SeqData, SplitData, TrainWindows, build_sequences
from mtrec_ray.seqrec.recommender import SeqRecRecommender
from mtrec_ray.seqrec.train import (
    SeqRecConfig,
    TrainedSeqRec,
    make_loop_config,
    seqrec_train_loop,
    train_seqrec,
    trained_from_state,
)
from mtrec_ray.seqrec.weighting import (
    RewardScores,
    RewardWeightConfig,
    reward_signal,
    target_weights,
    transform_rewards,
)

__all__ = [
    "RewardScores",
    "RewardWeightConfig",
    "SeqData",
    "SeqRecConfig",
    "SeqRecRecommender",
    "SplitData",
    "TrainWindows",
    "TrainedSeqRec",
    "build_sequences",
    "evaluate_ranking",
    "make_loop_config",
    "reward_signal",
    "seqrec_train_loop",
    "target_weights",
    "train_seqrec",
    "trained_from_state",
    "transform_rewards",
]

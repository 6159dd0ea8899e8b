"""Neural building blocks: history encoders, quantile heads, the mental reward model."""

from __future__ import annotations

from mtrec_ray.models.encoders import HistoryEncoder, ItemEmbedding
from mtrec_ray.models.quantile import (
    MonotoneQuantileHead,
    quantile_cvar,
    quantile_levels,
    quantile_mean,
    quantile_std,
)
from mtrec_ray.models.reward_model import (
    FORMAT_VERSION,
    MentalRewardModel,
    RewardModelConfig,
    RewardScores,
    catalogue_fingerprint,
)

__all__ = [
    "FORMAT_VERSION",
    "HistoryEncoder",
    "ItemEmbedding",
    "MentalRewardModel",
    "MonotoneQuantileHead",
    "RewardModelConfig",
    "RewardScores",
    "catalogue_fingerprint",
    "quantile_cvar",
    "quantile_levels",
    "quantile_mean",
    "quantile_std",
]

"""Full-ranking metrics: known answers on hand-built scores, masks, label groups."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mtrec_ray.eval.ranking import (
    evaluate_ranking,
    metrics_from_ranks,
    summarize_ranks,
    target_ranks,
)
from mtrec_ray.seqrec.data import build_sequences


def test_target_ranks_counts_ties_against_the_target():
    scores = torch.tensor([[0.9, 0.1, 0.5, 0.3], [0.2, 0.8, 0.8, 0.1], [0.0, 0.0, 0.0, 0.0]])
    ranks = target_ranks(scores, torch.tensor([2, 2, 3]))
    assert ranks.tolist() == [1, 1, 3]  # a constant scorer ranks the target last


def test_target_ranks_exclude_never_removes_the_target():
    scores = torch.tensor([[0.9, 0.1, 0.5, 0.3]])
    exclude = torch.tensor([[True, False, True, False]])  # excludes item 0 and the target
    assert target_ranks(scores, torch.tensor([2]), exclude=exclude).tolist() == [0]


def test_metrics_known_answers():
    m = metrics_from_ranks(torch.tensor([0, 1, 9, 10, 19, 20]), ks=(10, 20), mrr_ks=(10,))
    assert m["hr@10"].tolist() == [1, 1, 1, 0, 0, 0]
    assert m["hr@20"].tolist() == [1, 1, 1, 1, 1, 0]
    expected_ndcg10 = [1.0, 1 / math.log2(3), 1 / math.log2(11), 0, 0, 0]
    assert m["ndcg@10"].tolist() == pytest.approx(expected_ndcg10)
    assert m["ndcg@20"][3].item() == pytest.approx(1 / math.log2(12))
    assert m["ndcg@20"][5].item() == 0.0
    assert m["mrr@10"].tolist() == pytest.approx([1.0, 0.5, 0.1, 0, 0, 0])


def test_summary_means_and_groups():
    ranks = torch.tensor([0, 1, 30])
    out = summarize_ranks(ranks, groups={"g": torch.tensor([True, False, True]), "empty": torch.zeros(3, dtype=torch.bool)})
    assert out["hr@10"] == pytest.approx(2 / 3)
    assert out["mrr@10"] == pytest.approx((1 + 0.5) / 3)
    assert out["g/hr@10"] == pytest.approx(0.5)
    assert out["g/n_users"] == 2 and out["n_users"] == 3
    assert math.isnan(out["empty/ndcg@10"])


class _FixedScorer:
    """Scores every item by a fixed vector, whatever the history."""

    def __init__(self, scores: list[float]) -> None:
        self.scores = torch.tensor(scores)

    def score_histories(self, items: torch.Tensor) -> torch.Tensor:
        return self.scores.expand(len(items), -1).clone()


def test_evaluate_ranking_end_to_end_with_rating_groups_and_history_mask():
    # user 0: 3 -> 1 -> 2 -> 0 (test target 0, rated 5); user 1: 1 -> 3 -> 2 -> 1 (test 1, rated 1)
    events = pd.DataFrame(
        {
            "user_id": [0, 0, 0, 0, 1, 1, 1, 1],
            "item_id": [3, 1, 2, 0, 1, 3, 2, 1],
            "timestamp": [1, 2, 3, 4, 1, 2, 3, 4],
            "session_id": 0,
            "label_rating": [3, 3, 3, 5, 4, 4, 4, 1],
        }
    )
    data = build_sequences(events, max_len=5, n_items=5)
    model = _FixedScorer([0.5, 0.4, 0.9, 0.8, 0.1])  # order: 2, 3, 0, 1, 4
    out = evaluate_ranking(model, data, "test", ks=(1, 3))
    # user 0: target 0 at rank 2; user 1: target 1 at rank 3
    assert out["hr@1"] == 0.0 and out["hr@3"] == pytest.approx(0.5)
    assert out["ndcg@3"] == pytest.approx(0.5 / math.log2(4))
    assert out["rated_4_5/n_users"] == 1 and out["rated_4_5/hr@3"] == 1.0
    assert out["rated_1_2/n_users"] == 1 and out["rated_1_2/hr@3"] == 0.0
    masked = evaluate_ranking(model, data, "test", ks=(1, 3), mask_history=True)
    # user 0 saw 3, 1, 2 -> target 0 ranks first; user 1 saw 1, 3, 2 -> target 1 (seen) is kept: rank 1
    assert masked["hr@1"] == pytest.approx(0.5) and masked["hr@3"] == 1.0
    valid = evaluate_ranking(model, data, "valid", ks=(1,))
    assert valid["hr@1"] == 1.0  # both valid targets are item 2, the top item
    assert np.isfinite(out["eval_seconds"])
    from_events = evaluate_ranking(model, events, "test", ks=(1, 3))  # sequences built on the fly
    assert from_events["hr@3"] == out["hr@3"] and from_events["ndcg@3"] == out["ndcg@3"]

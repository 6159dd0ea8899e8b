"""Training SASRec / GRU4Rec: learning a pattern, reward weighting, save/load, Recommender."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mtrec_ray.errors import ArtifactError, ConfigError
from mtrec_ray.eval.ranking import evaluate_ranking
from mtrec_ray.recommenders import Histories, Recommender
from mtrec_ray.seqrec import (
    SeqRecConfig,
    SeqRecRecommender,
    TrainedSeqRec,
    build_sequences,
    train_seqrec,
)

N_ITEMS = 40


def pattern_events(n_users: int = 80, length: int = 14, seed: int = 0) -> pd.DataFrame:
    """Each user walks a fixed random cycle over the catalogue from a random start."""
    rng = np.random.default_rng(seed)
    succ = rng.permutation(N_ITEMS)  # next item of item i is succ[i] (a permutation)
    rows = []
    for u in range(n_users):
        item = int(rng.integers(N_ITEMS))
        for t in range(length):
            rows.append((u, item, t))
            item = int(succ[item])
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(session_id=0)


@pytest.mark.parametrize("model", ["sasrec", "gru4rec"])
def test_learns_a_deterministic_next_item_pattern(model):
    data = build_sequences(pattern_events(), max_len=10, n_items=N_ITEMS)
    cfg = SeqRecConfig.smoke(model=model, max_epochs=40, patience=5, lr=1e-2)
    trained = train_seqrec(cfg, data)
    test = evaluate_ranking(trained, data, "test")
    assert test["hr@10"] > 0.9, test
    assert test["ndcg@10"] > 0.7, test
    assert trained.best_valid_ndcg10 == max(h["valid_ndcg@10"] for h in trained.history)
    assert all(h["train_seqs_per_s"] > 0 for h in trained.history)


def test_constant_reward_gives_exactly_the_plain_model():
    data = build_sequences(pattern_events(n_users=20), max_len=10, n_items=N_ITEMS)
    plain = train_seqrec(SeqRecConfig.smoke(max_epochs=2), data)
    cfg = SeqRecConfig.smoke(max_epochs=2)
    cfg.reward.signal = "mean"
    weighted = train_seqrec(cfg, data, reward_fn=np.full(data.n_train_targets(), 0.3))
    for k, v in plain.model.state_dict().items():
        torch.testing.assert_close(v, weighted.model.state_dict()[k])
    with pytest.raises(ConfigError, match="needs a reward"):
        train_seqrec(cfg, data)


def test_reward_weighting_moves_the_model_towards_rewarded_targets():
    # after item 0 the user consumes item 1 or 2 (50/50); the reward prefers 2
    rng = np.random.default_rng(1)
    rows = []
    for u in range(60):
        for t in range(12):
            rows.append((u, 0 if t % 2 == 0 else int(rng.integers(1, 3)), t))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(session_id=0)
    data = build_sequences(events, max_len=6, n_items=5)
    _, _, targets = data.train_states()
    reward = np.select([targets == 2, targets == 1], [1.0, -1.0], 0.0)

    def pref_for_2(trained: TrainedSeqRec) -> float:
        probs = torch.softmax(trained.score_histories(torch.tensor([[5, 5, 5, 0, 1, 0], [5, 5, 0, 2, 0, 2]])), -1)
        return float((probs[:, 2] - probs[:, 1]).mean())

    base = SeqRecConfig.smoke(max_len=6, max_epochs=15, patience=15, lr=1e-2)
    plain = train_seqrec(base, data)
    mtrec_cfg = SeqRecConfig.smoke(max_len=6, max_epochs=15, patience=15, lr=1e-2)
    mtrec_cfg.reward.signal = "mean"
    mtrec = train_seqrec(mtrec_cfg, data, reward_fn=reward)
    assert abs(pref_for_2(plain)) < 0.25
    assert pref_for_2(mtrec) > pref_for_2(plain) + 0.3


def test_save_load_round_trip_and_recommender(tmp_path):
    data = build_sequences(pattern_events(n_users=20), max_len=10, n_items=N_ITEMS)
    trained = train_seqrec(SeqRecConfig.smoke(model="gru4rec", max_epochs=2), data)
    trained.save(tmp_path / "gru")
    loaded = TrainedSeqRec.load(tmp_path / "gru")
    hist = torch.as_tensor(data.split("test").histories)
    torch.testing.assert_close(trained.score_histories(hist), loaded.score_histories(hist))
    assert loaded.config == trained.config and loaded.history == trained.history
    assert loaded.best_epoch == trained.best_epoch

    rec = SeqRecRecommender.load(tmp_path / "gru")
    assert isinstance(rec, Recommender) and rec.name == "gru4rec"
    h = Histories.from_sequences([[1, 2, 3], [], [5] * 12], length=12)
    slate = rec.recommend(h, 5)
    assert slate.shape == (3, 5) and slate.dtype == np.int64
    assert not np.isin(slate[0], [1, 2, 3]).any() and 5 not in slate[2]
    assert all(len(set(row)) == 5 for row in slate.tolist())
    np.testing.assert_array_equal(slate, rec.recommend(h, 5))
    keep = SeqRecRecommender(trained=loaded, exclude_history=False).recommend(h, 5)
    top = torch.topk(loaded.score_histories(torch.tensor([[N_ITEMS] * 9 + [1, 2, 3]])), 5).indices.numpy()
    np.testing.assert_array_equal(keep[0], top[0])

    (tmp_path / "bad").mkdir()
    with pytest.raises(ArtifactError, match="not a sequential recommender"):
        TrainedSeqRec.load(tmp_path / "bad")
    blob = torch.load(tmp_path / "gru" / "seqrec.pt", weights_only=True)
    blob["format_version"] = 99
    torch.save(blob, tmp_path / "bad" / "seqrec.pt")
    with pytest.raises(ArtifactError, match="format version 99"):
        TrainedSeqRec.load(tmp_path / "bad")

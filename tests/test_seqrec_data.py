"""Sequence building: consumed events, stable order, leave-one-out, windows, states."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtrec_ray.data import load_movielens
from mtrec_ray.errors import DataError
from mtrec_ray.seqrec.data import build_sequences


def _events() -> pd.DataFrame:
    # user 1: ties at t=5 keep row order (7 then 8); a non-click (item 9) is dropped
    return pd.DataFrame(
        {
            "user_id": [1, 0, 1, 1, 1, 0, 1, 1, 0],
            "item_id": [2, 4, 3, 9, 7, 5, 8, 6, 1],
            "timestamp": [1, 1, 2, 3, 5, 2, 5, 0, 3],
            "session_id": 0,
            "click": [1, 1, 1, 0, 1, 1, 1, 1, 1],
        }
    )


def test_consumed_events_in_stable_time_order():
    data = build_sequences(_events(), max_len=3, n_items=10)
    assert data.user_ids.tolist() == [0, 1]
    assert data.sequences[0].tolist() == [4, 5, 1]
    assert data.sequences[1].tolist() == [6, 2, 3, 7, 8]


def test_leave_one_out_splits():
    data = build_sequences(_events(), max_len=3, n_items=10)
    test, valid = data.split("test"), data.split("valid")
    assert test.targets.tolist() == [1, 8] and valid.targets.tolist() == [5, 7]
    assert test.histories.tolist() == [[10, 4, 5], [2, 3, 7]]  # last max_len items, padded with 10
    assert valid.histories.tolist() == [[10, 10, 4], [6, 2, 3]]


def test_windows_use_every_training_target_once():
    data = build_sequences(_events(), max_len=2, n_items=10)
    w = data.train_windows()
    # user 0 trains on [4] (no target); user 1 on [6, 2, 3] -> targets 2, 3 in one window
    assert w.inputs.tolist() == [[6, 2]] and w.targets.tolist() == [[2, 3]]
    long = build_sequences(
        pd.DataFrame({"user_id": 0, "item_id": np.arange(8), "timestamp": np.arange(8), "session_id": 0}),
        max_len=3,
        n_items=8,
    )
    w = long.train_windows()  # train part 0..5, targets 1..5, windows of <= 3 targets from the end
    assert w.targets.tolist() == [[8, 1, 2], [3, 4, 5]]
    assert w.inputs.tolist() == [[8, 0, 1], [2, 3, 4]]
    assert (w.target_index >= 0).sum() == long.n_train_targets() == 5
    for inp, tgt in zip(w.inputs, w.targets, strict=True):  # every target is its input's next item
        valid = tgt != 8
        assert (tgt[valid] == inp[valid] + 1).all()


def test_train_states_hold_the_full_preceding_history():
    long = build_sequences(
        pd.DataFrame({"user_id": 0, "item_id": np.arange(8), "timestamp": np.arange(8), "session_id": 0}),
        max_len=3,
        n_items=8,
    )
    items, ratios, targets = long.train_states()
    assert targets.tolist() == [1, 2, 3, 4, 5]
    assert items.tolist() == [[8, 8, 0], [8, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4]]
    assert ratios[0].tolist() == [0.0, 0.0, 1.0]
    w = long.train_windows()
    flat = w.target_index[w.target_index >= 0]
    assert (targets[flat] == w.targets[w.target_index >= 0]).all()


def test_bad_inputs_are_refused():
    with pytest.raises(DataError, match="canonical column"):
        build_sequences(pd.DataFrame({"user_id": [0], "item_id": [0]}))
    with pytest.raises(DataError, match="outside the catalogue"):
        build_sequences(_events(), n_items=5)
    with pytest.raises(DataError, match="no consumed events"):
        build_sequences(_events().assign(click=0))


def test_movielens_ties_follow_file_order(ml100k_dir):
    data = build_sequences(load_movielens(ml100k_dir), max_len=50)
    assert len(data.sequences) == 943 and data.n_items == 1682
    assert data.n_train_targets() == 100_000 - 3 * 943
    test = data.split("test")
    # independently: the test target is the user's latest event, the file's last line among equal times
    raw = pd.read_csv(ml100k_dir / "u.data", sep="\t", names=["u", "i", "r", "t"])
    latest = raw[raw.t == raw.groupby("u").t.transform("max")].groupby("u").tail(1).sort_values("u")
    assert (test.targets == latest.i.to_numpy() - 1).all()  # dense id = raw id - 1 on ML-100K
    assert test.labels["rating"].tolist() == latest.r.tolist()
    two_latest_equal = raw.groupby("u").t.apply(lambda t: t.nlargest(2).nunique() == 1)
    assert int(two_latest_equal.sum()) == 415  # DESIGN.md: test and valid share a timestamp

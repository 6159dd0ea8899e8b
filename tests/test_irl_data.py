"""Engagement events built from canonical logs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtrec_ray.errors import DataError
from mtrec_ray.irl.data import build_events, build_feature_spec, split_users, to_tensors


def _logs() -> pd.DataFrame:
    """Two users; user 0 has sessions 0 (3 slates) and 1 (1 slate); slates of 2 items."""
    rows = []
    # (user, session, slate, t, [(item, click, watch_ratio, duration)])
    slates = [
        (0, 0, 0, 0, [(1, 1, 0.9, 60.0), (2, 0, 0.0, 30.0)]),
        (0, 0, 1, 100, [(3, 0, 0.0, 60.0), (4, 0, 0.0, 60.0)]),
        (0, 0, 2, 200, [(5, 1, 0.2, 120.0), (6, 0, 0.0, 60.0)]),
        (0, 1, 3, 100_000, [(7, 1, 0.5, 60.0), (8, 0, 0.0, 60.0)]),
        (1, 2, 4, 50, [(2, 1, 0.99, 30.0), (9, 0, 0.0, 60.0)]),
    ]
    for user, sess, slate, t, items in slates:
        for pos, (item, click, wr, dur) in enumerate(items):
            rows.append(
                dict(user_id=user, item_id=item, timestamp=t + pos, session_id=sess, slate_id=slate,
                     position=pos, click=click, watch_ratio=wr, watch_time=wr * dur, duration=dur,
                     label_rating=5)
            )
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # order must not matter


def test_events_from_slate_logs():
    logs = _logs()
    spec = build_feature_spec(logs, n_items=10, n_depth=4, max_history=3, max_mood=2, return_days=2.0)
    ev = build_events(logs, spec)
    assert len(ev) == 5 and spec.has_watch and spec.has_slates
    np.testing.assert_array_equal(ev.user, [0, 0, 0, 0, 1])
    np.testing.assert_array_equal(ev.clicked, [0, -1, 0, 0, 0])
    np.testing.assert_array_equal(ev.item, [1, 10, 5, 7, 2])
    np.testing.assert_array_equal(ev.leave, [False, False, True, True, True])
    np.testing.assert_array_equal(ev.next_event, [1, 2, -1, -1, -1])
    # user 0 came back after ~1.2 days (< 2): returned; last sessions: unknown
    np.testing.assert_array_equal(ev.returned, [-1, -1, 1, -1, -1])
    # history: consumed items before the slate, right-aligned, padded with n_items
    np.testing.assert_array_equal(ev.hist_items[0], [10, 10, 10])
    np.testing.assert_array_equal(ev.hist_items[2], [10, 10, 1])
    np.testing.assert_array_equal(ev.hist_items[3], [10, 1, 5])
    np.testing.assert_array_equal(ev.hist_items[4], [10, 10, 10])  # other user: empty
    # mood: earlier consumptions of the same session only
    np.testing.assert_array_equal(ev.mood_items[2], [10, 1])
    np.testing.assert_array_equal(ev.mood_items[3], [10, 10])
    assert ev.hist_feats.shape == (5, 3, spec.n_history_features)
    assert ev.hist_feats[3, 2, 0] == pytest.approx(0.2)
    assert np.all(ev.depth[ev.clicked >= 0] >= 0) and ev.depth[1] == -1
    assert ev.slate_items.shape == (5, 2) and ev.slate_mask.all()
    assert ev.nuis[1].sum() == 0.0  # no consumption, no nuisance
    t = to_tensors(ev)
    assert t["hist_feats"].dtype.is_floating_point and t["leave"].dtype == __import__("torch").bool


def test_logs_without_slates_are_one_item_consumptions():
    logs = pd.DataFrame(
        dict(user_id=[0, 0, 0], item_id=[1, 2, 3], timestamp=[0, 10, 20], session_id=[0, 0, 1],
             label_rating=[1, 5, 3])
    )
    spec = build_feature_spec(logs, n_items=4)
    assert not spec.has_watch and not spec.has_slates and spec.n_depth == 0
    ev = build_events(logs, spec)
    np.testing.assert_array_equal(ev.clicked, [0, 0, 0])
    np.testing.assert_array_equal(ev.leave, [False, True, True])
    np.testing.assert_array_equal(ev.hist_items[2, -2:], [1, 2])


def test_bad_ids_and_missing_columns_are_refused():
    logs = _logs()
    spec = build_feature_spec(logs, n_items=10)
    with pytest.raises(DataError, match="item ids"):
        build_events(logs.assign(item_id=logs["item_id"] + 5), spec)
    with pytest.raises(DataError, match="session_id"):
        build_events(logs.drop(columns=["session_id"]), spec)


def test_split_users_is_deterministic_and_disjoint():
    users = np.repeat(np.arange(100), 3)
    a, b = split_users(users, seed=1), split_users(users, seed=1)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    allu = np.concatenate(list(a.values()))
    assert allu.size == 100 and np.unique(allu).size == 100
    assert a["test"].size == 20 and a["valid"].size == 10


def test_no_events_keep_the_feature_shapes():
    logs = _logs()
    spec = build_feature_spec(logs, n_items=10, n_depth=4, max_history=3, max_mood=2)
    ev = build_events(logs.iloc[:0], spec)
    assert len(ev) == 0
    assert ev.hist_items.shape == (0, 3) and ev.mood_items.shape == (0, 2)
    assert ev.hist_feats.shape == (0, 3, spec.n_history_features)

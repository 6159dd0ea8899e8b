"""Sessions, splits, transitions and dataset directories, on hand-built examples."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from mtrec_ray.data import (
    Dataset,
    assign_sessions,
    build_transitions,
    from_frame,
    gap_sessions,
    ingest,
    leave_one_out,
    load_dataset,
    prepare_dataset,
    summarize,
    time_split,
)
from mtrec_ray.data.synthetic import synthetic_kuairand, write_synthetic_csv
from mtrec_ray.errors import ArtifactError, ConfigError, DataError


def events(users, times, **cols) -> pd.DataFrame:
    n = len(users)
    df = pd.DataFrame({"user_id": users, "item_id": cols.pop("items", list(range(n))),
                       "timestamp": times, "session_id": cols.pop("sessions", [-1] * n)})
    for k, v in cols.items():
        df[k] = v
    return df.astype({"user_id": "int64", "item_id": "int64", "timestamp": "int64",
                      "session_id": "int64"})


# --- sessions -------------------------------------------------------------------------


def test_gap_sessions_strict_gap_and_user_boundaries():
    ev = events([0, 0, 0, 0, 1, 1], [0, 1800, 3601, 5401, 5402, 5403])
    assert gap_sessions(ev, gap_seconds=1800).tolist() == [0, 0, 1, 1, 2, 2]
    assert gap_sessions(ev, gap_seconds=1).tolist() == [0, 1, 2, 3, 4, 4]
    with pytest.raises(ConfigError):
        gap_sessions(ev, gap_seconds=0)
    with pytest.raises(DataError, match="not ordered"):
        gap_sessions(events([0, 0], [5, 1]))


def test_assign_sessions_modes():
    given = events([0, 0, 1, 1], [0, 5000, 1, 2], sessions=[7, 7, 7, 9])
    out, mode = assign_sessions(given)
    assert mode == "given" and out["session_id"].tolist() == [0, 0, 1, 2]
    out, mode = assign_sessions(given, mode="gap", gap_seconds=60)
    assert mode == "gap" and out["session_id"].tolist() == [0, 1, 2, 2]
    with pytest.raises(ConfigError, match="no session column"):
        assign_sessions(events([0], [0]), mode="given")
    with pytest.raises(ConfigError, match="unknown"):
        assign_sessions(given, mode="daily")  # type: ignore[arg-type]  # invalid on purpose


# --- splits ---------------------------------------------------------------------------


def test_leave_one_out_known_answer():
    ev = events([0, 0, 0, 0, 1, 1, 2, 2, 2], [1, 2, 3, 3, 1, 2, 5, 6, 7])
    codes = leave_one_out(ev)
    #           user 0: train train valid test | user 1 (< 3 events): all train | user 2
    assert codes.tolist() == [0, 0, 1, 2, 0, 0, 0, 1, 2]
    with pytest.raises(ConfigError):
        leave_one_out(ev, min_events=2)


def test_splits_have_no_leakage():
    rng = np.random.default_rng(0)
    n = 5000
    df = events(rng.integers(0, 200, n), rng.integers(0, 50, n))  # many ties
    df = df.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
    df["loo"] = leave_one_out(df)
    sizes = df.groupby("user_id").size()
    train_max = df[df["loo"] == 0].groupby("user_id")["timestamp"].max()
    valid = df[df["loo"] == 1].set_index("user_id")["timestamp"]
    test = df[df["loo"] == 2].set_index("user_id")["timestamp"]
    assert set(valid.index) == set(test.index) == set(sizes[sizes >= 3].index)
    assert valid.index.is_unique and test.index.is_unique
    assert (train_max.reindex(valid.index) <= valid).all()
    assert (valid <= test.reindex(valid.index)).all()
    codes, valid_cut, test_cut = time_split(df, valid_frac=0.1, test_frac=0.2)
    t = df["timestamp"].to_numpy()
    assert t[codes == 0].max() <= valid_cut < t[codes == 1].min()
    assert t[codes == 1].max() <= test_cut < t[codes == 2].min()
    assert abs((codes == 2).mean() - 0.2) < 0.05
    with pytest.raises(ConfigError):
        time_split(df, valid_frac=0.5, test_frac=0.5)


# --- transitions ------------------------------------------------------------------------


def tiny_log() -> pd.DataFrame:
    return events(
        [0, 0, 0, 0, 0, 1, 1],
        [0, 10, 20, 5000, 5010, 0, 10],
        items=[10, 11, 12, 13, 14, 20, 21],
        sessions=[0, 0, 0, 1, 1, 2, 2],
        click=np.array([1, 0, 1, 1, 0, 1, 1], dtype=np.int8),
        watch_ratio=[0.5, 0.0, 0.8, 0.2, 0.0, 1.0, 0.3],
        position=[0, 1, 0, 2, 0, 0, 1],
        duration=[30.0, 20.0, 10.0, 5.0, 6.0, 7.0, 8.0],
    )


P = -1


def test_transitions_known_answer_across_sessions():
    tr = build_transitions(tiny_log(), history_len=2)
    assert tr.history_items.tolist() == [[P, P], [P, 10], [P, 10], [10, 12], [12, 13],
                                         [P, P], [P, 20]]
    assert tr.next_history_items.tolist() == [[P, 10], [P, 10], [10, 12], [12, 13], [12, 13],
                                              [P, 20], [20, 21]]
    assert tr.history_len.tolist() == [0, 1, 1, 2, 2, 0, 1]
    assert tr.next_history_len.tolist() == [1, 1, 2, 2, 2, 1, 2]
    assert tr.feature_names == ("watch_ratio",)
    np.testing.assert_allclose(tr.history_features[3, :, 0], [0.5, 0.8])
    np.testing.assert_allclose(tr.history_features[6, :, 0], [0.0, 1.0])  # 0 at padding
    np.testing.assert_allclose(tr.next_history_features[2, :, 0], [0.5, 0.8])
    assert tr.done.tolist() == [False, False, True, False, True, False, True]
    assert tr.item.tolist() == [10, 11, 12, 13, 14, 20, 21]
    assert tr.consumed.tolist() == [True, False, True, True, False, True, True]
    assert tr.click.tolist() == [1, 0, 1, 1, 0, 1, 1]
    assert tr.position.tolist() == [0, 1, 0, 2, 0, 0, 1]
    assert tr.event_index.tolist() == list(range(7))
    assert tr.user_id.tolist() == [0, 0, 0, 0, 0, 1, 1]
    assert tr.session_id.tolist() == [0, 0, 0, 1, 1, 2, 2]
    for name, dtype in [("history_items", np.int32), ("item", np.int32), ("user_id", np.int32),
                        ("history_features", np.float32), ("watch_ratio", np.float32),
                        ("duration", np.float32), ("event_index", np.int64)]:
        assert getattr(tr, name).dtype == dtype, name


def test_transitions_within_session_and_split_filter():
    tr = build_transitions(tiny_log(), history_len=2, cross_session=False)
    assert tr.history_items[3:5].tolist() == [[P, P], [P, 13]]
    assert tr.next_history_items[3:5].tolist() == [[P, 13], [P, 13]]
    log = tiny_log()
    log["split"] = ["train", "train", "train", "valid", "test", "valid", "test"]
    test = build_transitions(log, history_len=3, split="test")
    assert test.event_index.tolist() == [4, 6]
    assert test.history_items.tolist() == [[10, 12, 13], [P, P, 20]]
    sub = build_transitions(log, history_len=3).take([4, 6])
    assert sub.history_items.tolist() == test.history_items.tolist()


def test_transitions_interleaved_given_sessions_and_no_clicks():
    ev = events([0, 0, 0, 0], [0, 1, 2, 3], items=[5, 6, 7, 8], sessions=[0, 1, 0, 1])
    tr = build_transitions(ev, history_len=2, cross_session=False)
    assert tr.history_items.tolist() == [[P, P], [P, P], [P, 5], [P, 6]]
    assert tr.done.tolist() == [False, False, True, True]
    # no click column: every event counts as consumed; no features without watch_ratio
    tr = build_transitions(ev, history_len=3)
    assert tr.history_items.tolist() == [[P, P, P], [P, P, 5], [P, 5, 6], [5, 6, 7]]
    assert tr.click is None and tr.consumed.all() and tr.history_features.shape == (4, 3, 0)


def test_transitions_refuse_labels_and_missing_sessions():
    log = tiny_log()
    log["label_rating"] = 1.0
    with pytest.raises(ConfigError, match="evaluation only"):
        build_transitions(log, features=["label_rating"])
    with pytest.raises(ConfigError, match="assign sessions"):
        build_transitions(events([0, 0], [1, 2]))


def test_transitions_are_vectorised_at_scale():
    n, n_users = 500_000, 5_000
    rng = np.random.default_rng(1)
    users = np.sort(rng.integers(0, n_users, n))
    ev = events(users, np.arange(n), items=rng.integers(0, 10_000, n),
                sessions=users * 3 + (np.arange(n) % 3 > 0), click=rng.integers(0, 2, n),
                watch_ratio=rng.random(n))
    ev["session_id"] = ev.groupby(["user_id", "session_id"], sort=False).ngroup()
    t0 = time.perf_counter()
    tr = build_transitions(ev, history_len=20)
    assert time.perf_counter() - t0 < 15.0
    assert tr.history_items.shape == (n, 20) and tr.history_features.shape == (n, 20, 1)


# --- dataset directories ------------------------------------------------------------------


def test_prepare_and_load_round_trip(tmp_path):
    raw = synthetic_kuairand(3000, n_users=40, n_items=100, seed=3)
    frame = raw.rename(columns={"video_id": "item_id"})
    frame["timestamp"] = frame["time_ms"] // 1000
    log = from_frame(frame[["user_id", "item_id", "timestamp"]])
    ds = prepare_dataset(log, tmp_path / "ds", session_gap=600)
    names = sorted(p.name for p in (tmp_path / "ds").iterdir())
    assert names == ["events.parquet", "item_map.parquet", "metadata.json", "user_map.parquet"]
    meta = json.loads((tmp_path / "ds" / "metadata.json").read_text())
    for key in ("schema_version", "source", "counts", "splits", "rows", "fingerprint",
                "sessions", "id_space"):
        assert key in meta
    assert meta["sessions"] == {"mode": "gap", "gap_seconds": 600.0}
    assert meta["counts"]["events"] == 3000 and meta["counts"]["users"] == 40
    back = load_dataset(tmp_path / "ds")
    pd.testing.assert_frame_equal(back.events, ds.events)
    pd.testing.assert_frame_equal(back.item_map, ds.item_map)
    assert isinstance(back, Dataset) and back.n_users == 40
    sp = back.splits("loo")
    assert len(sp["test"]) == len(sp["valid"]) == 40
    assert sum(len(v) for v in back.splits("time").values()) == 3000
    tr = build_transitions(back.events, history_len=4, split="train")
    assert len(tr) == len(sp["train"])


def test_dataset_errors(tmp_path):
    log = from_frame(events([0, 0, 0], [1, 2, 3]))
    with pytest.raises(DataError, match="not a prepared dataset") as exc:
        load_dataset(tmp_path)
    assert str(tmp_path) in str(exc.value)
    prepare_dataset(log, tmp_path / "ds")
    with pytest.raises(DataError, match="already exists"):
        prepare_dataset(log, tmp_path / "ds")
    prepare_dataset(log, tmp_path / "ds", overwrite=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="not empty"):
        prepare_dataset(log, tmp_path / "other")
    meta_file = tmp_path / "ds" / "metadata.json"
    meta = json.loads(meta_file.read_text())
    meta["schema_version"] = 99
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="newer"):
        load_dataset(tmp_path / "ds")
    prepare_dataset(log, tmp_path / "ds", overwrite=True)
    ev = pd.read_parquet(tmp_path / "ds" / "events.parquet")
    ev.loc[0, "item_id"] = 0 if ev.loc[0, "item_id"] else 1
    ev.to_parquet(tmp_path / "ds" / "events.parquet", index=False)
    with pytest.raises(ArtifactError, match="fingerprint"):
        load_dataset(tmp_path / "ds")
    assert load_dataset(tmp_path / "ds", verify=False).events.shape[0] == 3


def test_summarize_and_ingest_synthetic_csv(tmp_path):
    csv = write_synthetic_csv(tmp_path / "log.csv", 20_000, seed=5)
    ds = ingest("kuairand", csv, tmp_path / "ds")
    assert ds.metadata["timing"]["total_s"] > 0
    s = summarize(ds)
    assert s["events"] == 20_000 and s["sessions"] == ds.metadata["counts"]["sessions"]
    assert 0.3 < s["ctr"] < 0.4
    assert {"p10", "p50", "p90", "mean", "over_1"} <= set(s["watch_ratio"])
    assert sum(s["session_length"]["histogram"].values()) == s["sessions"]
    assert s["splits"]["loo"]["test"] == s["users"]
    assert "label_like" in s["label_columns"] and "label_like" not in s["training_columns"]
    assert json.dumps(s)  # JSON-ready for `mtrec inspect --json`

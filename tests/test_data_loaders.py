"""Loaders on tiny files written by the tests, plus the real MovieLens-100K ingest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtrec_ray.data import (
    KNOWN_FORMATS,
    ColumnMapping,
    from_frame,
    load_log,
    load_movielens,
    prepare_dataset,
)
from mtrec_ray.data.schema import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from mtrec_ray.errors import ConfigError, DataError


def write(path, text: str):
    path.write_text(text)
    return path


# --- generic CSV / Parquet --------------------------------------------------------------


def test_csv_with_mapping_units_labels_and_given_sessions(tmp_path):
    f = write(tmp_path / "log.csv",
              "uid;vid;when_ms;sess;clicked;watched;dur;stars;junk\n"
              "u20;7;1000500;a;1;2.5;10;4;x\n"
              "u10;9;1000000;a;0;0;20;;y\n"
              "u20;9;1000900;b;true;5;5;1;z\n")
    mapping = ColumnMapping.from_pairs([
        "user=uid", "item=vid", "timestamp=when_ms", "timestamp_format=unix_ms",
        "session=sess", "click=clicked", "watch_time=watched", "duration=dur",
        "labels=stars:rating", "delimiter=;", "string_ids=true",
    ])
    log = load_log("csv", f, mapping=mapping)
    ev = log.events
    assert list(ev.columns) == ["user_id", "item_id", "timestamp", "session_id", "click",
                                "watch_time", "watch_ratio", "duration", "source_index",
                                "label_rating"]
    # users sorted raw ids: u10 -> 0, u20 -> 1; items 7 -> 0, 9 -> 1
    assert log.user_map["raw_user_id"].tolist() == ["u10", "u20"]
    assert ev["user_id"].tolist() == [0, 1, 1]
    assert ev["item_id"].tolist() == [1, 0, 1]
    assert ev["timestamp"].tolist() == [1000, 1000, 1000]  # ms floored to seconds
    assert ev["source_index"].tolist() == [1, 0, 2]  # ms order kept within the second
    assert ev["click"].tolist() == [0, 1, 1]
    assert ev["watch_ratio"].tolist() == [0.0, 0.25, 1.0]
    # sessions given: (u10,a), (u20,a), (u20,b) -> three sessions, never across users
    assert ev["session_id"].tolist() == [0, 1, 2]
    assert log.has_sessions
    assert np.isnan(ev["label_rating"].iloc[0]) and ev["label_rating"].iloc[1] == 4.0
    assert "junk" not in ev.columns
    for col, dtype in {**REQUIRED_COLUMNS, **OPTIONAL_COLUMNS}.items():
        if col in ev.columns:
            assert str(ev[col].dtype) == dtype, col


def test_csv_datetime_format_and_header_less(tmp_path):
    f = write(tmp_path / "log.tsv", "1\t5\t2024-01-02 03:04:05\n2\t6\t2024-01-02 03:04:06\n")
    mapping = ColumnMapping.load(None, [
        "header=false", "names=u,i,t", "user=u", "item=i", "timestamp=t", "delimiter=tab",
        "timestamp_format=%Y-%m-%d %H:%M:%S",
    ])
    ev = load_log("csv", f, mapping=mapping).events
    assert ev["timestamp"].tolist() == [1704164645, 1704164646]
    iso = write(tmp_path / "iso.csv", "user_id,item_id,timestamp\n1,2,2024-01-02T03:04:05Z\n")
    ev = load_log("csv", iso, mapping=ColumnMapping(timestamp_format="iso")).events
    assert ev["timestamp"].tolist() == [1704164645]


def test_mapping_from_yaml_and_errors(tmp_path):
    y = write(tmp_path / "m.yaml", "user: uid\nitem: vid\nlabels: [rating, 'is_like:like']\n"
                                   "timestamp_format: unix_ms\n")
    m = ColumnMapping.load(y, ["item=video"])
    assert (m.user, m.item, m.timestamp_format) == ("uid", "video", "unix_ms")
    assert m.label_targets() == {"label_rating": "rating", "label_like": "is_like"}
    with pytest.raises(ConfigError, match="known keys"):
        ColumnMapping.from_pairs(["usr=uid"])
    with pytest.raises(ConfigError, match="strftime"):
        ColumnMapping.from_pairs(["timestamp_format=weird"])
    with pytest.raises(ConfigError, match="mapped twice"):
        ColumnMapping.from_pairs(["item=user_id"])
    with pytest.raises(ConfigError, match="names="):
        ColumnMapping.from_pairs(["header=false"])


def test_parquet_with_datetime_column(tmp_path):
    df = pd.DataFrame({
        "user": [3, 1, 3],
        "item": [10, 11, 10],
        "ts": pd.to_datetime(["2024-01-01 00:00:10", "2024-01-01 00:00:00",
                             "2024-01-01 00:00:05"]),
        "wt": [1.0, 2.0, 3.0],
    })
    f = tmp_path / "log.parquet"
    df.to_parquet(f)
    log = load_log("parquet", f, mapping=ColumnMapping(user="user", item="item", timestamp="ts",
                                                       watch_time="wt"))
    ev = log.events
    assert ev["user_id"].tolist() == [0, 1, 1]
    assert ev["timestamp"].tolist() == [1704067200, 1704067205, 1704067210]
    assert ev["watch_time"].tolist() == [2.0, 3.0, 1.0]
    assert "watch_ratio" not in ev.columns  # no duration mapped


def test_id_maps_are_sorted_and_independent_of_file_order(tmp_path):
    rows = [(30, 7, 1), (10, 5, 2), (20, 6, 3), (10, 7, 4)]
    a = write(tmp_path / "a.csv", "user_id,item_id,timestamp\n"
              + "".join(f"{u},{i},{t}\n" for u, i, t in rows))
    b = write(tmp_path / "b.csv", "user_id,item_id,timestamp\n"
              + "".join(f"{u},{i},{t}\n" for u, i, t in reversed(rows)))
    la, lb = load_log("csv", a), load_log("csv", b)
    pd.testing.assert_frame_equal(la.user_map, lb.user_map)
    pd.testing.assert_frame_equal(la.item_map, lb.item_map)
    assert la.user_map["raw_user_id"].tolist() == [10, 20, 30]
    assert la.user_map["user_id"].tolist() == [0, 1, 2]


def test_ties_keep_file_order(tmp_path):
    f = write(tmp_path / "t.csv", "user_id,item_id,timestamp\n1,3,50\n1,1,50\n1,2,50\n1,9,10\n")
    ev = load_log("csv", f).events
    assert ev["source_index"].tolist() == [3, 0, 1, 2]


# --- MovieLens --------------------------------------------------------------------------


def test_movielens_variants(tmp_path):
    d100 = tmp_path / "ml-100k"
    d100.mkdir()
    write(d100 / "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t377\t1\t878887116\n")
    d1m = tmp_path / "ml-1m"
    d1m.mkdir()
    write(d1m / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    d25 = tmp_path / "ml-25m"
    d25.mkdir()
    write(d25 / "ratings.csv", "userId,movieId,rating,timestamp\n1,296,5.0,1147880044\n"
                               "1,306,3.5,1147868817\n2,296,4.0,1147868828\n")
    for path, variant, ratings in [
        (d100, "100k", [3, 1, 3]),
        (d1m / "ratings.dat", "1m/10m", [5, 3, 4]),
        (d25, "20m/25m", [3.5, 5.0, 4.0]),
    ]:
        log = load_log("movielens", path)
        ev = log.events
        assert log.source["variant"] == variant
        assert len(ev) == 3 and log.n_users == 2
        assert "label_rating" in ev.columns
        assert not {"click", "watch_time", "watch_ratio", "rating"} & set(ev.columns)
        assert ev["label_rating"].tolist() == ratings
    with pytest.raises(DataError, match="no MovieLens ratings file") as exc:
        load_movielens(tmp_path)
    assert str(tmp_path) in str(exc.value)


# --- KuaiRand ---------------------------------------------------------------------------

KUAI_HEADER = ("user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,"
               "is_forward,is_hate,long_view,play_time_ms,duration_ms,profile_stay_time,"
               "comment_stay_time,is_profile_enter,is_rand,tab\n")


def test_kuairand_mapping(tmp_path):
    f = write(tmp_path / "log_standard.csv", KUAI_HEADER
              + "5,100,20220408,1400,1649397600000,1,1,0,0,0,0,1,30000,20000,0,0,0,0,1\n"
              + "5,101,20220408,1400,1649397630500,0,0,0,0,0,1,0,0,10000,0,0,0,1,1\n"
              + "2,100,20220408,1400,1649397600000,1,0,0,0,0,0,0,5000,20000,0,0,0,0,1\n")
    log = load_log("kuairand", f)
    ev = log.events
    assert ev["user_id"].tolist() == [0, 1, 1]
    assert ev["item_id"].tolist() == [0, 0, 1]
    assert ev["timestamp"].tolist() == [1649397600, 1649397600, 1649397630]
    assert ev["click"].tolist() == [1, 1, 0]
    assert ev["watch_time"].tolist() == [5.0, 30.0, 0.0]
    assert ev["duration"].tolist() == [20.0, 20.0, 10.0]
    assert ev["watch_ratio"].tolist() == [0.25, 1.5, 0.0]
    assert ev["long_view"].tolist() == [0, 1, 0]  # implicit: stays a training column
    assert ev["label_like"].tolist() == [0, 1, 0]
    assert ev["label_hate"].tolist() == [0, 0, 1]
    assert {"label_follow", "label_comment", "label_forward"} <= set(ev.columns)
    assert not {"is_like", "is_rand", "tab", "play_time_ms"} & set(ev.columns)


def test_kuairand_directory_of_logs_and_optional_columns(tmp_path):
    write(tmp_path / "log_a.csv", "user_id,video_id,time_ms,is_click,play_time_ms\n"
                                  "1,7,1649397600000,1,1000\n")
    write(tmp_path / "log_b.csv", "user_id,video_id,time_ms,is_click,play_time_ms\n"
                                  "1,8,1649397500000,0,0\n1,9,1649397700000,1,2000\n")
    write(tmp_path / "video_features.csv", "video_id\n7\n")  # not a log: ignored
    log = load_log("kuairand", tmp_path)
    ev = log.events
    assert log.report.rows_in == 3
    assert ev["source_index"].tolist() == [1, 0, 2]  # file b continues after file a
    assert "duration" not in ev.columns and "watch_ratio" not in ev.columns
    assert len(log.source["files"]) == 2


# --- dispatcher, frames, world directories -----------------------------------------------


def test_unknown_format_lists_known(tmp_path):
    with pytest.raises(DataError) as exc:
        load_log("movielenz", tmp_path / "x.csv")
    msg = str(exc.value)
    assert "unknown format 'movielenz'" in msg and "x.csv" in msg
    for fmt in KNOWN_FORMATS:
        assert fmt in msg


def world_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": [0, 0, 2, 2, 2],
        "item_id": [4, 1, 4, 3, 1],
        "timestamp": [10, 20, 5, 6, 4000],
        "session_id": [0, 0, 1, 1, 2],
        "slate_id": [0, 1, 2, 3, 4],
        "position": [0, 2, 1, 0, 0],
        "click": [1, 0, 1, 1, 0],
        "watch_time": [3.0, 0.0, 9.0, 1.0, 0.0],
        "watch_ratio": [0.3, 0.0, 0.9, 0.1, 0.0],
        "duration": [10.0, 10.0, 10.0, 10.0, 10.0],
        "satisfaction": [0.1, 0.2, 0.3, 0.4, 0.5],  # must never reach the events
    })


def test_from_frame_remap_or_keep_ids():
    log = from_frame(world_frame())
    assert log.events["user_id"].tolist() == [0, 0, 1, 1, 1]
    assert "satisfaction" not in log.events.columns
    assert log.source["ignored_columns"] == ["satisfaction"]
    kept = from_frame(world_frame(), remap_ids=False)
    assert kept.events["user_id"].tolist() == [0, 0, 2, 2, 2]
    assert kept.events["item_id"].tolist() == [4, 1, 4, 3, 1]
    assert kept.n_users == 3 and kept.n_items == 5
    assert kept.has_sessions and kept.events["session_id"].tolist() == [0, 0, 1, 1, 2]


def test_world_directory_carries_ground_truth_separately(tmp_path):
    world = tmp_path / "world"
    (world / "ground_truth").mkdir(parents=True)
    frame = world_frame()
    frame.drop(columns="satisfaction").to_parquet(world / "logs.parquet")
    gt = pd.DataFrame({"event": range(5), "satisfaction": frame["satisfaction"]})
    gt.to_parquet(world / "ground_truth" / "events.parquet")
    (world / "ground_truth" / "config.json").write_text('{"preset": "default"}')
    log = load_log("world", world)
    assert set(log.extra_tables) == {"ground_truth/events"}
    ds = prepare_dataset(log, tmp_path / "ds")
    assert "satisfaction" not in ds.events.columns
    assert (tmp_path / "ds" / "ground_truth" / "events.parquet").is_file()
    assert (tmp_path / "ds" / "ground_truth" / "config.json").read_text() == '{"preset": "default"}'
    pd.testing.assert_frame_equal(ds.read_extra("ground_truth/events"), gt)
    assert ds.metadata["sessions"]["mode"] == "given"
    assert ds.n_items == 5  # world ids kept, so ground-truth item ids still match
    with pytest.raises(DataError, match="not a world directory"):
        load_log("world", tmp_path / "ds")


# --- the real MovieLens-100K --------------------------------------------------------------


def test_movielens_100k_real_ingest(ml100k_dir, tmp_path):
    ds = prepare_dataset(load_log("movielens", ml100k_dir), tmp_path / "ml")
    counts = ds.metadata["counts"]
    assert (counts["users"], counts["items"], counts["events"]) == (943, 1682, 100000)
    loo = ds.metadata["splits"]["loo"]
    assert (loo["test"], loo["valid"], loo["train"]) == (943, 943, 100000 - 2 * 943)
    ev = ds.events
    test = ev[ev["split"] == "test"].set_index("user_id")
    valid = ev[ev["split"] == "valid"].set_index("user_id")
    assert test.index.is_unique and len(test) == 943
    tie = test["timestamp"] == valid.loc[test.index, "timestamp"]
    assert int(tie.sum()) == 415
    # On ties the later line of u.data is the test event (stable sort keeps file order).
    assert (test.loc[tie, "source_index"] > valid.loc[tie[tie].index, "source_index"]).all()
    # Independent check against the raw file.
    raw = pd.read_csv(ml100k_dir / "u.data", sep="\t", names=["u", "i", "r", "t"])
    raw["line"] = np.arange(len(raw))
    last = raw.sort_values(["u", "t", "line"]).groupby("u").tail(1)
    assert sorted(last["line"]) == sorted(test["source_index"])

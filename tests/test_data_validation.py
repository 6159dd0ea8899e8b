"""Bad input: every malformed case names file, row and column; drop counts; duplicates."""

from __future__ import annotations

import pandas as pd
import pytest

from mtrec_ray.data import ColumnMapping, LoadReport, from_frame, load_log, prepare_dataset
from mtrec_ray.errors import DataError

HEADER = "user_id,item_id,timestamp,watch_time\n"
WT = ColumnMapping(watch_time="watch_time")

# name -> (file text, mapping, expected row, expected column, words in the message)
CASES = {
    "missing_column": ("user_id,item_id,ts\n1,2,3\n", None, None, "timestamp",
                       ["missing required column 'timestamp'", "['user_id', 'item_id', 'ts']"]),
    "non_numeric_id": (HEADER + "1,2,3,0\nabc,2,3,0\n", WT, 2, "user_id",
                       ["'abc'", "not a number"]),
    "empty_id": (HEADER + "1,2,3,0\n1,2,3,0\n1,,4,0\n", WT, 3, "item_id", ["empty"]),
    "non_integer_id": (HEADER + "1,2.5,3,0\n", WT, 1, "item_id", ["'2.5'", "not an integer"]),
    "nan_watch_time": (HEADER + "1,2,3,NaN\n", WT, 1, "watch_time", ["empty or NaN"]),
    "negative_watch_time": (HEADER + "1,2,3,1\n1,2,4,-2\n", WT, 2, "watch_time",
                            ["-2", "negative"]),
    "unparsable_timestamp": (HEADER + "1,2,yesterday,0\n", WT, 1, "timestamp",
                             ["'yesterday'", "not a number"]),
    "negative_timestamp": (HEADER + "1,2,5,0\n1,2,-5,0\n", WT, 2, "timestamp",
                           ["-5", "out of range"]),
    "future_timestamp": (HEADER + "1,2,1700000000000,0\n", WT, 1, "timestamp",
                         ["out of range", "timestamp_format=unix_ms"]),
    "bad_datetime": ("user_id,item_id,timestamp\n1,2,2024-01-01 10:00\n1,2,2024-13-45 10:00\n",
                     ColumnMapping(timestamp_format="%Y-%m-%d %H:%M"), 2, "timestamp",
                     ["'2024-13-45 10:00'", "%Y-%m-%d %H:%M"]),
    "wrong_delimiter": ("user_id\titem_id\ttimestamp\n1\t2\t3\n", None, 0, "user_id\\titem_id",
                        ["wrong delimiter?", "one column", "delimiter='\\t'"]),
    "wrong_field_count": (HEADER + "1,2,3,0\n1,2\n", WT, 2, "timestamp",
                          ["2 field(s), expected 4"]),
    "blank_row": (HEADER + "1,2,3,0\n\n1,2,3,0\n", WT, 2, "user_id", ["blank"]),
    "empty_file": ("", None, 0, None, ["empty", "['user_id', 'item_id', 'timestamp']"]),
    "header_only": (HEADER, WT, 1, None, ["no data rows", "'watch_time'"]),
    "click_not_binary": ("user_id,item_id,timestamp,c\n1,2,3,2\n", ColumnMapping(click="c"),
                         1, "c", ["0 or 1"]),
    "zero_duration": ("user_id,item_id,timestamp,d\n1,2,3,0\n", ColumnMapping(duration="d"),
                      1, "d", ["> 0"]),
    "id_too_large": ("user_id,item_id,timestamp\n99999999999999999999,2,3\n", None, 1,
                     "user_id", ["64-bit", "string_ids"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_names_file_row_column(tmp_path, case):
    text, mapping, row, column, words = CASES[case]
    f = tmp_path / f"{case}.csv"
    f.write_text(text)
    with pytest.raises(DataError) as exc:
        load_log("csv", f, mapping=mapping)
    err = exc.value
    msg = str(err)
    assert err.path == str(f) and str(f) in msg
    assert err.row == row
    if row is not None:
        assert f"row {row}" in msg
    if column is not None:
        assert err.column is not None and err.column.startswith(column)
        assert f"column '{column}" in msg
    for word in words:
        assert word in msg, (word, msg)


def test_bad_row_in_kuairand_names_source_column(tmp_path):
    f = tmp_path / "log.csv"
    f.write_text("user_id,video_id,time_ms,is_click,play_time_ms\n"
                 "1,2,1649397600000,1,500\n1,3,1649397600000,1,-500\n")
    with pytest.raises(DataError) as exc:
        load_log("kuairand", f)
    assert (exc.value.row, exc.value.column) == (2, "play_time_ms")
    assert "negative" in str(exc.value)


def test_bad_value_in_parquet_and_frame(tmp_path):
    df = pd.DataFrame({"user_id": [1.0, None, 3.0], "item_id": [1, 2, 3], "timestamp": [1, 2, 3]})
    f = tmp_path / "log.parquet"
    df.to_parquet(f)
    with pytest.raises(DataError) as exc:
        load_log("parquet", f)
    assert (exc.value.path, exc.value.row, exc.value.column) == (str(f), 2, "user_id")
    neg = pd.DataFrame({"user_id": [0, -1], "item_id": [1, 2], "timestamp": [1, 2]})
    with pytest.raises(DataError, match=r"world frame, row 2, column 'user_id'.*negative"):
        from_frame(neg, name="world frame", remap_ids=False)


def test_missing_paths_and_non_parquet(tmp_path):
    with pytest.raises(DataError, match="does not exist") as exc:
        load_log("csv", tmp_path / "nope.csv")
    assert str(tmp_path / "nope.csv") in str(exc.value)
    f = tmp_path / "x.parquet"
    f.write_text("not parquet")
    with pytest.raises(DataError, match="Parquet") as exc:
        load_log("parquet", f)
    assert str(f) in str(exc.value)
    with pytest.raises(DataError, match="on_bad_rows='skip' is unknown"):
        load_log("csv", f, on_bad_rows="skip")


MIXED = (HEADER
         + "1,10,100,1\n"       # ok
         + "x,10,100,1\n"       # user_id:non-numeric
         + "2,,100,1\n"         # item_id:missing
         + "2,10,-1,1\n"        # timestamp:out-of-range
         + "2,10,101,-3\n"      # watch_time:negative
         + "2,11,abc,-3\n"      # timestamp:non-numeric (first problem wins)
         + "2,10\n"             # row:wrong-field-count
         + "\n"                 # row:blank
         + "3,12,200,0\n"       # ok
         + "1,10,100,1\n"       # duplicate of row 1
         + "\n\n")              # trailing blank lines: not rows


def test_error_mode_reports_first_bad_row_and_total(tmp_path):
    f = tmp_path / "mixed.csv"
    f.write_text(MIXED)
    with pytest.raises(DataError) as exc:
        load_log("csv", f, mapping=WT)
    assert exc.value.row == 2 and exc.value.column == "user_id"
    assert "7 bad rows" in str(exc.value) and "on_bad_rows='drop'" in str(exc.value)


def test_drop_policy_counts_by_reason(tmp_path):
    f = tmp_path / "mixed.csv"
    f.write_text(MIXED)
    log = load_log("csv", f, mapping=WT, on_bad_rows="drop")
    r = log.report
    assert r.dropped_by_reason == {
        "user_id:non-numeric": 1, "item_id:missing": 1, "timestamp:out-of-range": 1,
        "watch_time:negative": 1, "timestamp:non-numeric": 1, "row:wrong-field-count": 1,
        "row:blank": 1,
    }
    assert (r.rows_in, r.rows_kept, r.rows_dropped) == (10, 3, 7)
    assert r.rows_in == r.rows_kept + r.rows_dropped
    assert r.duplicates == 1 and not r.deduplicated
    assert sorted(log.events["source_index"]) == [0, 8, 9]
    # the counts travel into the dataset metadata
    ds = prepare_dataset(log, tmp_path / "ds")
    rows = ds.metadata["rows"]
    assert rows["dropped_by_reason"]["row:blank"] == 1 and rows["rows_in"] == 10
    assert rows["rows_in"] == rows["rows_kept"] + rows["rows_dropped"]


def test_duplicates_reported_and_deduplicated_only_when_asked(tmp_path):
    f = tmp_path / "dup.csv"
    f.write_text("user_id,item_id,timestamp,rating\n1,2,3,5\n1,2,3,1\n1,2,4,2\n2,2,3,1\n1,2,3,3\n")
    mapping = ColumnMapping(labels=["rating"])
    kept = load_log("csv", f, mapping=mapping)
    assert kept.report.duplicates == 2 and len(kept.events) == 5
    deduped = load_log("csv", f, mapping=mapping, dedupe=True)
    r = deduped.report
    assert r.duplicates == 2 and r.deduplicated
    assert r.dropped_by_reason == {"duplicate": 2}
    assert (r.rows_in, r.rows_kept) == (5, 3)
    ev = deduped.events
    first = ev[(ev["user_id"] == 0) & (ev["timestamp"] == 3)]
    assert first["label_rating"].tolist() == [5]  # the first occurrence in the file is kept


def test_report_invariant_is_enforced():
    r = LoadReport(rows_in=5, rows_kept=3, dropped_by_reason={"x": 1})
    with pytest.raises(AssertionError, match="row accounting"):
        r.check()

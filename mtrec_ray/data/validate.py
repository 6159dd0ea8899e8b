"""Value validation: Arrow columns -> typed numpy arrays, bad rows located vectorised.

Every check yields a per-row problem code; nothing loops over rows in Python. With
``on_bad_rows="error"`` the earliest bad row (in file order) raises ``DataError`` naming
the file, the 1-based data row, the source column and the offending value. With
``"drop"`` each bad row is dropped and counted under the reason of its *first* problem
(checks run in a fixed column order), so the counts add up to the rows dropped and
``rows_in == rows_kept + rows_dropped`` holds exactly.

Reason keys are ``"<canonical column>:<problem>"``, for example ``user_id:non-numeric``,
``timestamp:out-of-range``, ``watch_time:negative``; plus ``row:wrong-field-count``,
``row:blank`` and ``duplicate`` (only when deduplication was asked for).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mtrec_ray.data.mapping import TIMESTAMP_FORMATS, ColumnMapping
from mtrec_ray.data.readers import RawTable
from mtrec_ray.errors import DataError

OnBadRows = Literal["error", "drop"]
BAD_ROW_POLICIES: tuple[str, ...] = ("error", "drop")

#: Timestamps must lie in [0, MAX_TIMESTAMP): 1970-01-01 up to 2100-01-01 (UTC).
MAX_TIMESTAMP = 4_102_444_800

# Problem codes (0 = fine). Names are the second half of a reason key.
OK, MISSING, NON_NUMERIC, NON_INTEGER, TOO_LARGE, NON_FINITE = 0, 1, 2, 3, 4, 5
NEGATIVE, NON_POSITIVE, NOT_BINARY, UNPARSABLE, OUT_OF_RANGE = 6, 7, 8, 9, 10
PROBLEMS = {
    MISSING: "missing", NON_NUMERIC: "non-numeric", NON_INTEGER: "non-integer",
    TOO_LARGE: "too-large", NON_FINITE: "non-finite", NEGATIVE: "negative",
    NON_POSITIVE: "non-positive", NOT_BINARY: "not-0/1", UNPARSABLE: "unparsable",
    OUT_OF_RANGE: "out-of-range",
}

_INT_RE = r"^[+-]?[0-9]+$"
_NUM_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_INT64_MAX_TEXT = str(2**63 - 1)


@dataclass(kw_only=True)
class LoadReport:
    """Row accounting of one load: what came in, what was kept, what was dropped and why."""

    rows_in: int = 0
    """Data rows read from the source(s)."""
    rows_kept: int = 0
    """Rows in the canonical table."""
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    """Dropped rows per reason (each dropped row counted once)."""
    duplicates: int = 0
    """Rows repeating an earlier (user, item, time) event, among the valid rows."""
    deduplicated: bool = False
    """Whether duplicates were dropped (counted under ``duplicate``)."""

    @property
    def rows_dropped(self) -> int:
        """Total rows dropped."""
        return int(sum(self.dropped_by_reason.values()))

    def check(self) -> None:
        """Enforce ``rows_in == rows_kept + rows_dropped`` (raises AssertionError)."""
        if self.rows_in != self.rows_kept + self.rows_dropped:
            raise AssertionError(
                f"row accounting broken: rows_in={self.rows_in} != rows_kept={self.rows_kept}"
                f" + rows_dropped={self.rows_dropped} ({self.dropped_by_reason})"
            )

    def add(self, reason: str, count: int) -> None:
        """Count ``count`` dropped rows under ``reason``."""
        if count:
            self.dropped_by_reason[reason] = self.dropped_by_reason.get(reason, 0) + int(count)

    def merge(self, other: LoadReport) -> None:
        """Add another file's counts to this report."""
        self.rows_in += other.rows_in
        self.rows_kept += other.rows_kept
        for reason, count in other.dropped_by_reason.items():
            self.add(reason, count)
        self.duplicates += other.duplicates

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (for metadata and the CLI)."""
        return {
            "rows_in": self.rows_in,
            "rows_kept": self.rows_kept,
            "rows_dropped": self.rows_dropped,
            "dropped_by_reason": dict(sorted(self.dropped_by_reason.items())),
            "duplicates": self.duplicates,
            "deduplicated": self.deduplicated,
        }


def check_policy(on_bad_rows: str) -> None:
    """Raise DataError for an unknown bad-row policy."""
    if on_bad_rows not in BAD_ROW_POLICIES:
        raise DataError(f"on_bad_rows={on_bad_rows!r} is unknown; use one of {BAD_ROW_POLICIES}")


# --- column parsers: Arrow array -> (numpy values, uint8 problem codes) ----------------


def _combine(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


def _np_bool(arr: pa.Array) -> np.ndarray:
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _too_large_int(s: pa.Array) -> np.ndarray:
    """Integer texts beyond int64 (compared as equal-length digit strings)."""
    digits = pc.utf8_ltrim(s, "+-")
    length = np.asarray(pc.utf8_length(digits).fill_null(0).to_numpy(zero_copy_only=False))
    big = length > len(_INT64_MAX_TEXT)
    same = length == len(_INT64_MAX_TEXT)
    if same.any():
        above = _np_bool(pc.greater(digits, _INT64_MAX_TEXT))
        big |= same & above
    return big


def parse_number(arr: pa.ChunkedArray | pa.Array, *, integer: bool) -> tuple[np.ndarray, np.ndarray]:
    """Parse a column as numbers.

    Args:
        arr: integer, floating, boolean, decimal or text values.
        integer: require integral values (returned as int64); else float64.

    Returns:
        ``(values, codes)``; values at bad rows are 0.
    """
    a = _combine(arr)
    t = a.type
    n = len(a)
    codes = np.zeros(n, dtype=np.uint8)
    if pa.types.is_null(t):
        return np.zeros(n, dtype=np.int64 if integer else np.float64), codes + MISSING
    if pa.types.is_boolean(t):
        a = a.cast(pa.int8())
        t = a.type
    if pa.types.is_integer(t):
        codes[_np_bool(a.is_null())] = MISSING
        values = a.fill_null(0).to_numpy(zero_copy_only=False)
        return values.astype(np.int64 if integer else np.float64, copy=False), codes
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        f = a.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
        missing = np.isnan(f)
        codes[missing] = MISSING
        codes[np.isinf(f)] = NON_FINITE
        good = codes == OK
        if not integer:
            return np.where(good, f, 0.0), codes
        codes[good & (f != np.floor(np.where(good, f, 0.0)))] = NON_INTEGER
        codes[(codes == OK) & (np.abs(np.where(good, f, 0.0)) >= 2.0**63)] = TOO_LARGE
        return np.where(codes == OK, f, 0.0).astype(np.int64), codes
    if not _is_text(t):
        codes[:] = NON_NUMERIC
        codes[_np_bool(a.is_null())] = MISSING
        return np.zeros(n, dtype=np.int64 if integer else np.float64), codes
    s = pc.utf8_trim_whitespace(a)
    missing = _np_bool(pc.or_kleene(s.is_null(), pc.equal(s, "")))
    is_int = _np_bool(pc.match_substring_regex(s, _INT_RE))
    if integer:
        too_large = is_int & _too_large_int(s)
        is_int &= ~too_large
        ints = pc.cast(pc.if_else(pa.array(is_int), s, "0"), pa.int64())
        values = np.asarray(ints.to_numpy(zero_copy_only=False), dtype=np.int64)
        rest = ~is_int & ~missing & ~too_large
        if rest.any():
            is_num = _np_bool(pc.match_substring_regex(s, _NUM_RE)) & rest
            f = np.asarray(pc.cast(pc.if_else(pa.array(is_num), s, "0"), pa.float64())
                           .to_numpy(zero_copy_only=False))
            integral = is_num & np.isfinite(f) & (f == np.floor(f)) & (np.abs(f) < 2.0**63)
            values = np.where(integral, np.where(integral, f, 0.0).astype(np.int64), values)
            codes[rest] = NON_NUMERIC
            codes[is_num & ~integral] = NON_INTEGER
            codes[integral] = OK
        codes[too_large] = TOO_LARGE
        codes[missing] = MISSING
        return values, codes
    is_num = _np_bool(pc.match_substring_regex(s, _NUM_RE))
    f = np.asarray(pc.cast(pc.if_else(pa.array(is_num), s, "0"), pa.float64())
                   .to_numpy(zero_copy_only=False))
    codes[~is_num] = NON_NUMERIC
    codes[missing] = MISSING
    inf = ~is_num & ~missing & _np_bool(pc.match_substring_regex(
        s, r"^[+-]?(inf|infinity)$", ignore_case=True))
    codes[inf] = NON_FINITE
    return np.where(codes == OK, f, 0.0), codes


def parse_binary(arr: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Parse a 0/1 flag (also ``true``/``false``); returns int8 values and codes."""
    a = _combine(arr)
    if _is_text(a.type):
        low = pc.utf8_lower(pc.utf8_trim_whitespace(a))
        a = pc.if_else(pc.equal(low, "true"), "1", pc.if_else(pc.equal(low, "false"), "0", a))
    values, codes = parse_number(a, integer=True)
    codes[(codes == OK) & (values != 0) & (values != 1)] = NOT_BINARY
    return np.where(codes == OK, values, 0).astype(np.int8), codes


def parse_timestamp(arr: pa.ChunkedArray | pa.Array, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse event times into float64 seconds since 1970-01-01 UTC, range-checked.

    Args:
        arr: numbers (unix time in the unit of ``fmt``), Arrow timestamps/dates, or text.
        fmt: ``unix_s|unix_ms|unix_us|unix_ns``, ``iso``, or a strftime pattern.
    """
    a = _combine(arr)
    t = a.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        if pa.types.is_date(t):
            a = a.cast(pa.timestamp("s"))
        ns = a.cast(pa.timestamp("ns", tz=a.type.tz)).cast(pa.int64())
        codes = np.where(_np_bool(ns.is_null()), MISSING, OK).astype(np.uint8)
        seconds = ns.fill_null(0).to_numpy(zero_copy_only=False) / 1e9
    elif "%" in fmt or fmt == "iso":
        text = a if _is_text(t) else a.cast(pa.string())
        s = pc.utf8_trim_whitespace(text)
        missing = _np_bool(pc.or_kleene(s.is_null(), pc.equal(s, "")))
        series = pd.Series(s.to_numpy(zero_copy_only=False), dtype=object)
        parsed = pd.to_datetime(series, format="ISO8601" if fmt == "iso" else fmt,
                                errors="coerce", utc=True)
        seconds = ((parsed - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(
            dtype=np.float64, na_value=np.nan)
        codes = np.where(np.isnan(seconds), UNPARSABLE, OK).astype(np.uint8)
        codes[missing] = MISSING
        seconds = np.where(codes == OK, seconds, 0.0)
    else:
        seconds, codes = parse_number(a, integer=False)
        seconds = seconds / TIMESTAMP_FORMATS[fmt]
    out = (codes == OK) & ((seconds < 0) | (seconds >= MAX_TIMESTAMP))
    codes[out] = OUT_OF_RANGE
    return np.where(codes == OK, seconds, 0.0), codes


def _text_values(arr: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Ids kept as text: stripped strings, empty/null -> MISSING."""
    a = _combine(arr)
    s = pc.utf8_trim_whitespace(a if _is_text(a.type) else a.cast(pa.string()))
    missing = _np_bool(pc.or_kleene(s.is_null(), pc.equal(s, "")))
    values = np.asarray(s.fill_null("").to_numpy(zero_copy_only=False), dtype=object)
    return values, np.where(missing, MISSING, OK).astype(np.uint8)


def _present(arr: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Values of any type, only required to be non-null and non-empty (session ids)."""
    a = _combine(arr)
    if _is_text(a.type):
        return _text_values(a)
    missing = _np_bool(a.is_null())
    if pa.types.is_floating(a.type):
        missing |= np.isnan(a.fill_null(0).to_numpy(zero_copy_only=False))
    values = a.to_pandas().to_numpy(dtype=object)
    return values, np.where(missing, MISSING, OK).astype(np.uint8)


def _label_values(arr: pa.ChunkedArray | pa.Array) -> np.ndarray | pd.Series:
    """Labels are not validated; text that is all numbers becomes float64."""
    a = _combine(arr)
    if _is_text(a.type):
        s = pc.utf8_trim_whitespace(a)
        blank = pc.or_kleene(s.is_null(), pc.equal(s, ""))
        numeric = pc.or_kleene(blank, pc.match_substring_regex(s, _NUM_RE))
        if pc.all(numeric.fill_null(True)).as_py():
            return np.asarray(pc.cast(pc.if_else(blank, None, s), pa.float64())
                              .to_numpy(zero_copy_only=False), dtype=np.float64)
    return a.to_pandas()


# --- the table check --------------------------------------------------------------------


@dataclass(kw_only=True)
class _Check:
    target: str
    source: str
    codes: np.ndarray
    describe: Callable[[int, int], str]


def _value_at(arr: pa.ChunkedArray, i: int) -> Any:
    value = arr[int(i)].as_py()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and len(value) > 60:
        value = value[:57] + "..."
    return value


def _describe(target: str, arr: pa.ChunkedArray, mapping: ColumnMapping) -> Callable[[int, int], str]:
    what = {"user_id": "user id", "item_id": "item id", "session_id": "session id",
            "slate_id": "slate id"}.get(target, target.replace("_", " "))

    def message(i: int, code: int) -> str:
        v = _value_at(arr, i)
        if code == MISSING:
            return f"{what} is empty or NaN; a value is required"
        if code == NON_NUMERIC:
            return f"{what} {v!r} is not a number"
        if code == NON_INTEGER:
            return f"{what} {v!r} is not an integer"
        if code == TOO_LARGE:
            return (f"{what} {v!r} does not fit in a 64-bit integer; set string_ids=true for "
                    "hash-like ids")
        if code == NON_FINITE:
            return f"{what} {v!r} is not finite"
        if code == NEGATIVE:
            return f"{what} {v!r} is negative; it must be >= 0"
        if code == NON_POSITIVE:
            return f"{what} {v!r} must be > 0"
        if code == NOT_BINARY:
            return f"{what} {v!r} must be 0 or 1 (or true/false)"
        if code == UNPARSABLE:
            return (f"timestamp {v!r} does not match timestamp_format="
                    f"{mapping.timestamp_format!r}")
        if code == OUT_OF_RANGE:
            hint = ""
            try:
                x = float(v) if not hasattr(v, "timestamp") else v.timestamp()
                for unit, scale in (("unix_ms", 1e3), ("unix_us", 1e6), ("unix_ns", 1e9)):
                    if 0 <= x / scale < MAX_TIMESTAMP and mapping.timestamp_format == "unix_s":
                        hint = f"; it looks like {unit[5:]}: set timestamp_format={unit}"
                        break
            except (TypeError, ValueError):
                pass
            return (f"timestamp {v!r} is out of range (before 1970-01-01 or after "
                    f"2100-01-01 in format {mapping.timestamp_format!r}){hint}")
        return f"{what} {v!r} is invalid"

    return message


def validate_table(
    raw: RawTable,
    mapping: ColumnMapping,
    *,
    on_bad_rows: OnBadRows = "error",
    index_offset: int = 0,
    require_nonnegative_ids: bool = False,
) -> tuple[pd.DataFrame, LoadReport]:
    """Parse and check every mapped column of ``raw``.

    Args:
        raw: the table as read.
        mapping: the column mapping (source names, formats, units).
        on_bad_rows: ``"error"`` raises on the first bad row; ``"drop"`` drops and counts.
        index_offset: added to ``source_index`` (row counts of earlier files).
        require_nonnegative_ids: ids must be >= 0 (when ids are kept, not remapped).

    Returns:
        The kept rows with raw ids in ``user_id``/``item_id``, full-precision seconds in
        ``_time`` (the sort key), raw session values in ``_session``, the canonical
        optional columns present, ``label_*`` columns and ``source_index``; and the
        report (``duplicates`` not yet counted).
    """
    check_policy(on_bad_rows)
    table = raw.table
    n = table.num_rows
    targets = mapping.source_columns()
    checks: list[_Check] = []
    values: dict[str, Any] = {}

    def add(target: str, vals: Any, codes: np.ndarray) -> None:
        src = targets[target]
        values[target] = vals
        checks.append(_Check(target=target, source=src, codes=codes,
                             describe=_describe(target, table[src], mapping)))

    blank = np.ones(n, dtype=bool)
    for src in dict.fromkeys(targets.values()):
        blank &= _np_bool(table[src].is_null())
    for target in ("user_id", "item_id"):
        arr = table[targets[target]]
        if mapping.string_ids:
            add(target, *_text_values(arr))
        else:
            vals, codes = parse_number(arr, integer=True)
            if require_nonnegative_ids:
                codes[(codes == OK) & (vals < 0)] = NEGATIVE
            add(target, vals, codes)
    add("timestamp", *parse_timestamp(table[targets["timestamp"]], mapping.timestamp_format))
    if "session_id" in targets:
        add("session_id", *_present(table[targets["session_id"]]))
    for target in ("slate_id", "position"):
        if target in targets:
            vals, codes = parse_number(table[targets[target]], integer=True)
            if target == "position":
                codes[(codes == OK) & (vals < 0)] = NEGATIVE
            add(target, vals, codes)
    for target in ("click", "long_view"):
        if target in targets:
            add(target, *parse_binary(table[targets[target]]))
    scales = {"watch_time": mapping.watch_time_scale, "duration": mapping.duration_scale,
              "watch_ratio": 1.0}
    for target in ("watch_time", "duration", "watch_ratio"):
        if target in targets:
            vals, codes = parse_number(table[targets[target]], integer=False)
            bad_sign = (vals <= 0) if target == "duration" else (vals < 0)
            codes[(codes == OK) & bad_sign] = NON_POSITIVE if target == "duration" else NEGATIVE
            add(target, vals / scales[target], codes)

    first = np.full(n, -1, dtype=np.int16)
    first[blank] = len(checks)
    for k, chk in enumerate(checks):
        first[(first < 0) & (chk.codes != OK)] = k
    bad = first >= 0
    report = LoadReport(rows_in=raw.rows_in)
    if on_bad_rows == "error" and (bad.any() or raw.malformed):
        _raise_first(raw, checks, first, bad)
    report.add("row:wrong-field-count", len(raw.malformed))
    if bad.any():
        report.add("row:blank", int((first == len(checks)).sum()))
        for k, chk in enumerate(checks):
            sel = first == k
            if sel.any():
                for code, count in zip(*np.unique(chk.codes[sel], return_counts=True),
                                       strict=True):
                    report.add(f"{chk.target}:{PROBLEMS[int(code)]}", int(count))
    keep = ~bad
    cols: dict[str, Any] = {}
    for target in ("user_id", "item_id"):
        cols[target] = values[target][keep]
    cols["_time"] = values["timestamp"][keep]
    if "session_id" in values:
        cols["_session"] = values["session_id"][keep]
    for target in ("slate_id", "position", "click", "watch_time", "watch_ratio", "duration",
                   "long_view"):
        if target in values:
            cols[target] = values[target][keep]
    for target, src in mapping.label_targets().items():
        lab = _label_values(table[src])
        cols[target] = lab[keep] if isinstance(lab, np.ndarray) else lab[keep].reset_index(
            drop=True)
    cols["source_index"] = raw.data_rows[keep] - 1 + index_offset
    frame = pd.DataFrame(cols)
    report.rows_kept = len(frame)
    report.check()
    return frame, report


def _raise_first(raw: RawTable, checks: list[_Check], first: np.ndarray, bad: np.ndarray) -> None:
    n_bad = int(bad.sum()) + len(raw.malformed)
    suffix = (f" ({n_bad} bad rows in this file; on_bad_rows='drop' drops and counts them)"
              if n_bad > 1 else " (on_bad_rows='drop' drops and counts bad rows)")
    row_bad = int(raw.data_rows[np.argmax(bad)]) if bad.any() else None
    mal = min(raw.malformed, key=lambda m: m.row) if raw.malformed else None
    if mal is not None and (row_bad is None or mal.row < row_bad):
        text = mal.text if len(mal.text) <= 80 else mal.text[:77] + "..."
        raise DataError(
            f"the row has {mal.n_fields} field(s), expected {raw.n_fields} "
            f"({raw.columns}): {text!r}; wrong delimiter, or a stray or missing "
            f"separator?{suffix}",
            path=raw.path, row=mal.row,
            column=raw.columns[mal.n_fields] if mal.n_fields < raw.n_fields else None,
        )
    i = int(np.argmax(bad))
    k = int(first[i])
    if k == len(checks):
        raise DataError(f"the row is blank (no values in the mapped columns){suffix}",
                        path=raw.path, row=int(raw.data_rows[i]), column=checks[0].source)
    chk = checks[k]
    raise DataError(chk.describe(i, int(chk.codes[i])) + suffix, path=raw.path,
                    row=int(raw.data_rows[i]), column=chk.source)

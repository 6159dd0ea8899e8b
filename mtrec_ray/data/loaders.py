"""Loaders: log files of several formats -> one canonical, validated event table.

Every loader returns a ``LoadedLog``: the canonical events (``mtrec_ray.data.schema``),
the id maps, and a ``LoadReport`` (rows in / kept / dropped by reason, duplicates).
``load_log(format, path)`` is the one entry point the CLI uses; ``from_frame`` takes a
DataFrame that is already in the canonical schema (the ground-truth world's logs).

Id remapping (documented choice): raw ids are mapped to dense ``0..n-1`` in *sorted*
order of the raw ids (numeric order for integer ids, lexicographic for ``string_ids``),
so the mapping depends only on the set of ids, not on file order, and ids that are
already ``0..n-1`` map to themselves. ``remap_ids=False`` keeps non-negative integer ids
as they are (the world's ids, which its ground-truth tables use).

Event order: by user, then the source's full-precision time, then source line order
(``source_index``): a stable sort, so ties keep the file's order.

Sessions: when the source has a session column, session ids are renumbered globally in
order of first appearance (per user, so a session never spans users); otherwise
``session_id`` is -1 until ``prepare_dataset`` sessionises by inactivity gap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mtrec_ray.config import to_dict
from mtrec_ray.data.mapping import (
    KUAIRAND,
    KUAIRAND_OPTIONAL,
    MAPPED_COLUMNS,
    MOVIELENS_100K,
    MOVIELENS_CSV,
    MOVIELENS_DAT,
    ColumnMapping,
)
from mtrec_ray.data.readers import (
    RawTable,
    check_file,
    parquet_columns,
    read_csv,
    read_header,
    read_parquet,
    table_from_frame,
)
from mtrec_ray.data.schema import LABEL_PREFIX, OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from mtrec_ray.data.validate import LoadReport, OnBadRows, check_policy, validate_table
from mtrec_ray.errors import ConfigError, DataError

#: Formats ``load_log`` understands.
KNOWN_FORMATS: tuple[str, ...] = ("csv", "parquet", "movielens", "kuairand", "world")

#: File names looked for in a MovieLens directory, in order.
MOVIELENS_FILES: tuple[str, ...] = ("u.data", "ratings.dat", "ratings.csv")

#: In a world directory: the logs table and the folder carried through untouched.
WORLD_LOGS = "logs.parquet"
WORLD_EXTRA_DIR = "ground_truth"


@dataclass(kw_only=True)
class LoadedLog:
    """A validated log in the canonical schema, with its id maps and row accounting."""

    events: pd.DataFrame
    """Canonical events, sorted by user, time, source order."""
    user_map: pd.DataFrame
    """``user_id`` (dense) -> ``raw_user_id``."""
    item_map: pd.DataFrame
    """``item_id`` (dense) -> ``raw_item_id``."""
    report: LoadReport
    """Rows in / kept / dropped by reason, duplicates."""
    source: dict[str, Any]
    """Format, path(s) and column mapping, for the dataset metadata."""
    has_sessions: bool = False
    """Whether ``session_id`` came from the source (else it is -1)."""
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Tables carried into the dataset untouched, keyed by ``folder/name`` (no suffix)."""
    extra_files: dict[str, Path] = field(default_factory=dict)
    """Other files carried into the dataset verbatim, keyed by relative path."""

    @property
    def n_users(self) -> int:
        """Size of the user id space (max id + 1)."""
        return int(self.user_map["user_id"].max()) + 1 if len(self.user_map) else 0

    @property
    def n_items(self) -> int:
        """Size of the item id space (max id + 1)."""
        return int(self.item_map["item_id"].max()) + 1 if len(self.item_map) else 0


# --- assembling the canonical table ------------------------------------------------------


def _id_codes(raw: pd.Series, *, remap: bool, kind: str) -> tuple[np.ndarray, pd.DataFrame]:
    if remap:
        codes, uniques = pd.factorize(raw, sort=True)
        dense = np.arange(len(uniques), dtype=np.int64)
        raw_ids = np.asarray(uniques)
    else:
        codes = raw.to_numpy(dtype=np.int64)
        dense = np.unique(codes)
        raw_ids = dense
    table = pd.DataFrame({f"{kind}_id": dense, f"raw_{kind}_id": raw_ids})
    return codes.astype(np.int64, copy=False), table


def _assemble(
    frames: list[pd.DataFrame],
    report: LoadReport,
    *,
    source: dict[str, Any],
    has_sessions: bool,
    dedupe: bool,
    remap_ids: bool = True,
) -> LoadedLog:
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    dup = df.duplicated(["user_id", "item_id", "_time"], keep="first").to_numpy()
    report.duplicates = int(dup.sum())
    report.deduplicated = bool(dedupe)
    if dedupe and report.duplicates:
        df = df.loc[~dup].reset_index(drop=True)
        report.add("duplicate", report.duplicates)
        report.rows_kept -= report.duplicates
    if len(df) == 0:
        raise DataError(
            f"no valid rows left (dropped: {report.to_dict()['dropped_by_reason']})",
            path=str(source.get("path")),
        )
    users, user_map = _id_codes(df["user_id"], remap=remap_ids, kind="user")
    items, item_map = _id_codes(df["item_id"], remap=remap_ids, kind="item")
    time = df["_time"].to_numpy(dtype=np.float64)
    order = np.lexsort((df["source_index"].to_numpy(), time, users))
    ev: dict[str, Any] = {
        "user_id": users[order],
        "item_id": items[order],
        "timestamp": np.floor(time[order]).astype(np.int64),
    }
    if has_sessions:
        key = pd.DataFrame({"u": ev["user_id"], "s": df["_session"].to_numpy()[order]})
        ev["session_id"] = key.groupby(["u", "s"], sort=False).ngroup().to_numpy(np.int64)
    else:
        ev["session_id"] = np.full(len(df), -1, dtype=np.int64)
    for col, dtype in OPTIONAL_COLUMNS.items():
        if col in df.columns:
            ev[col] = df[col].to_numpy()[order].astype(dtype, copy=False)
    if "watch_ratio" not in ev and "watch_time" in ev and "duration" in ev:
        ev["watch_ratio"] = ev["watch_time"] / ev["duration"]
    out = pd.DataFrame({c: ev[c] for c in REQUIRED_COLUMNS})
    for col in OPTIONAL_COLUMNS:
        if col in ev:
            out[col] = ev[col]
    for col in df.columns:
        if col.startswith(LABEL_PREFIX):
            out[col] = df[col].to_numpy()[order]
    report.rows_kept = len(out)
    report.check()
    return LoadedLog(events=out, user_map=user_map, item_map=item_map, report=report,
                     source=source, has_sessions=has_sessions)


def _load_tables(
    raws: list[tuple[RawTable, ColumnMapping]],
    *,
    source: dict[str, Any],
    on_bad_rows: OnBadRows,
    dedupe: bool,
    remap_ids: bool = True,
) -> LoadedLog:
    report = LoadReport()
    frames = []
    offset = 0
    for raw, mapping in raws:
        frame, part = validate_table(raw, mapping, on_bad_rows=on_bad_rows, index_offset=offset,
                                     require_nonnegative_ids=not remap_ids)
        offset += raw.rows_in
        frames.append(frame)
        report.merge(part)
    has_sessions = all("_session" in f.columns for f in frames)
    return _assemble(frames, report, source=source, has_sessions=has_sessions, dedupe=dedupe,
                     remap_ids=remap_ids)


def _csv_types(mapping: ColumnMapping) -> dict[str, pa.DataType]:
    """Arrow types for the first, typed CSV pass (labels are inferred)."""
    types: dict[str, pa.DataType] = {}
    ids = pa.string() if mapping.string_ids else pa.int64()
    types[mapping.user] = ids
    types[mapping.item] = ids
    numeric_ts = mapping.timestamp_format.startswith("unix")
    types[mapping.timestamp] = pa.float64() if numeric_ts else pa.string()
    if mapping.session:
        types[mapping.session] = pa.string()
    for attr in ("slate", "position", "click", "long_view"):
        if getattr(mapping, attr):
            types[getattr(mapping, attr)] = pa.int64()
    for attr in ("watch_time", "watch_ratio", "duration"):
        if getattr(mapping, attr):
            types[getattr(mapping, attr)] = pa.float64()
    return types


def _read_csv_raw(path: str | Path, mapping: ColumnMapping) -> RawTable:
    return read_csv(path, delimiter=mapping.delimiter, header=mapping.header,
                    names=mapping.names, required=mapping.source_columns(),
                    types=_csv_types(mapping))


def _source(fmt: str, path: Any, mapping: ColumnMapping | None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"format": fmt, "path": str(path)}
    if mapping is not None:
        out["mapping"] = to_dict(mapping)
    out.update(extra)
    return out


# --- the loaders -------------------------------------------------------------------------


def load_csv(
    path: str | Path,
    *,
    mapping: ColumnMapping | None = None,
    on_bad_rows: OnBadRows = "error",
    dedupe: bool = False,
) -> LoadedLog:
    """Load a delimited text log with a column mapping (defaults: canonical names)."""
    check_policy(on_bad_rows)
    mapping = mapping or ColumnMapping()
    raw = _read_csv_raw(path, mapping)
    return _load_tables([(raw, mapping)], source=_source("csv", path, mapping),
                        on_bad_rows=on_bad_rows, dedupe=dedupe)


def load_parquet(
    path: str | Path,
    *,
    mapping: ColumnMapping | None = None,
    on_bad_rows: OnBadRows = "error",
    dedupe: bool = False,
) -> LoadedLog:
    """Load a Parquet log with a column mapping (CSV-only fields are ignored)."""
    check_policy(on_bad_rows)
    mapping = mapping or ColumnMapping()
    raw = read_parquet(path, required=mapping.source_columns())
    return _load_tables([(raw, mapping)], source=_source("parquet", path, mapping),
                        on_bad_rows=on_bad_rows, dedupe=dedupe)


def movielens_file(path: str | Path) -> tuple[Path, ColumnMapping, str]:
    """Find the MovieLens ratings file and its variant from a file or directory path.

    Returns:
        ``(file, mapping, variant)`` with variant ``"100k"`` (``u.data``), ``"1m/10m"``
        (``ratings.dat``) or ``"20m/25m"`` (``ratings.csv``).
    """
    p = Path(path)
    if not p.exists():
        raise DataError("the MovieLens path does not exist", path=str(p))
    if p.is_dir():
        for name in MOVIELENS_FILES:
            if (p / name).is_file():
                p = p / name
                break
        else:
            found = sorted(c.name for c in p.iterdir())[:12]
            raise DataError(
                f"no MovieLens ratings file in this directory; looked for {list(MOVIELENS_FILES)}"
                f" (100K, 1M/10M, 20M/25M); it holds {found}",
                path=str(p),
            )
    variants = {".data": (MOVIELENS_100K, "100k"), ".dat": (MOVIELENS_DAT, "1m/10m"),
                ".csv": (MOVIELENS_CSV, "20m/25m")}
    if p.suffix in variants:
        mapping, variant = variants[p.suffix]
        return p, mapping, variant
    check_file(p)
    with p.open("rb") as fh:
        line = fh.readline().decode("utf-8", errors="replace")
    if "::" in line:
        return p, MOVIELENS_DAT, "1m/10m"
    if "userId" in line:
        return p, MOVIELENS_CSV, "20m/25m"
    if "\t" in line:
        return p, MOVIELENS_100K, "100k"
    raise DataError(
        f"cannot tell the MovieLens variant from the first line {line.strip()!r}; expected "
        "u.data (tab-separated), ratings.dat ('::'-separated) or ratings.csv (header "
        "userId,movieId,rating,timestamp)",
        path=str(p), row=1,
    )


def load_movielens(
    path: str | Path, *, on_bad_rows: OnBadRows = "error", dedupe: bool = False
) -> LoadedLog:
    """Load MovieLens ratings (100K, 1M, 10M, 20M, 25M), detected from ``path``.

    Every rating is an event; the rating goes to ``label_rating`` (evaluation only).
    MovieLens has no click or watch columns.
    """
    check_policy(on_bad_rows)
    file, mapping, variant = movielens_file(path)
    raw = _read_csv_raw(file, mapping)
    return _load_tables([(raw, mapping)],
                        source=_source("movielens", file, mapping, variant=variant),
                        on_bad_rows=on_bad_rows, dedupe=dedupe)


def _kuairand_files(path: Path) -> list[Path]:
    if not path.exists():
        raise DataError("the KuaiRand path does not exist", path=str(path))
    if path.is_file():
        return [path]
    files = sorted(f for f in path.glob("log*.csv") if f.is_file())
    if not files:
        raise DataError("no KuaiRand log files (log*.csv) in this directory", path=str(path))
    return files


def load_kuairand(
    path: str | Path,
    *,
    mapping: ColumnMapping | None = None,
    on_bad_rows: OnBadRows = "error",
    dedupe: bool = False,
) -> LoadedLog:
    """Load KuaiRand-style logs: one CSV file, or every ``log*.csv`` in a directory.

    Mapping (``mapping.KUAIRAND``): ``video_id`` -> item_id, ``time_ms`` -> timestamp
    (ms), ``is_click`` -> click, ``play_time_ms`` -> watch_time (s), ``duration_ms`` ->
    duration (s), watch_ratio = watch_time / duration, ``long_view`` stays a training
    column (implicit feedback); ``is_like/is_follow/is_comment/is_forward/is_hate`` ->
    ``label_like/...`` (explicit, evaluation only). Optional columns absent from a file
    are left out. Several files continue ``source_index`` in file-name order.
    """
    check_policy(on_bad_rows)
    files = _kuairand_files(Path(path))
    raws = []
    for file in files:
        m = mapping
        if m is None:
            cols = set(read_header(file, delimiter=",", header=True))
            m = replace(
                KUAIRAND,
                duration=KUAIRAND.duration if "duration_ms" in cols else None,
                long_view=KUAIRAND.long_view if "long_view" in cols else None,
                labels=[e for e in KUAIRAND.labels
                        if e.split(":")[0] not in KUAIRAND_OPTIONAL or e.split(":")[0] in cols],
            )
        raws.append((_read_csv_raw(file, m), m))
    source = _source("kuairand", path, raws[0][1], files=[str(f) for f in files])
    return _load_tables(raws, source=source, on_bad_rows=on_bad_rows, dedupe=dedupe)


def canonical_mapping(columns: list[str]) -> ColumnMapping:
    """Identity mapping for a table already in the canonical schema."""
    present = {attr: canonical for canonical, attr in MAPPED_COLUMNS.items()
               if canonical in columns}
    labels = [c for c in columns if c.startswith(LABEL_PREFIX)]
    return ColumnMapping(**present, labels=labels)


def from_frame(
    frame: pd.DataFrame,
    *,
    name: str = "<frame>",
    mapping: ColumnMapping | None = None,
    on_bad_rows: OnBadRows = "error",
    dedupe: bool = False,
    remap_ids: bool = True,
    extra_tables: Mapping[str, pd.DataFrame] | None = None,
) -> LoadedLog:
    """Validate an in-memory table (by default already in the canonical schema).

    Canonical and ``label_*`` columns are kept; any other column is left out (listed in
    ``source["ignored_columns"]``) so nothing unvetted reaches training code.

    Args:
        frame: the events, one row per event, in source order.
        name: what error messages call the table (row r = frame row r-1).
        mapping: source columns; default: the canonical names present.
        on_bad_rows: ``"error"`` or ``"drop"``.
        dedupe: drop repeated (user, item, time) events.
        remap_ids: map ids to dense 0..n-1 (sorted); False keeps non-negative int ids.
        extra_tables: tables carried into the dataset untouched, keyed ``folder/name``
            (for example ``{"ground_truth/events": gt}``); never merged into events.
    """
    check_policy(on_bad_rows)
    columns = [str(c) for c in getattr(frame, "columns", [])]
    if mapping is None:
        mapping = canonical_mapping(columns)
        if mapping.session and bool((frame[mapping.session] < 0).all()):
            mapping = replace(mapping, session=None)  # -1: not sessionised yet
    raw = table_from_frame(frame, name=name, required=mapping.source_columns())
    used = set(mapping.source_columns().values())
    ignored = [c for c in columns if c not in used]
    log = _load_tables([(raw, mapping)],
                       source=_source("frame", name, mapping, ignored_columns=ignored),
                       on_bad_rows=on_bad_rows, dedupe=dedupe, remap_ids=remap_ids)
    for key, table in (extra_tables or {}).items():
        log.extra_tables[check_extra_key(key)] = table
    return log


def check_extra_key(key: str) -> str:
    """An extra table/file key must live in a subfolder (never beside events.parquet)."""
    parts = Path(key).parts
    if len(parts) < 2 or ".." in parts or Path(key).is_absolute():
        raise ConfigError(
            f"extra table key {key!r} must be a relative path inside a subfolder, for "
            "example 'ground_truth/events'"
        )
    return Path(key).as_posix()


def load_world(
    path: str | Path,
    *,
    on_bad_rows: OnBadRows = "error",
    dedupe: bool = False,
    remap_ids: bool = False,
) -> LoadedLog:
    """Load a ground-truth-world directory: ``logs.parquet`` plus ``ground_truth/``.

    The logs are in the canonical schema. World ids are kept (``remap_ids=False``) so the
    ground-truth tables, which use them, still match. Everything under ``ground_truth/``
    is carried through untouched (Parquet files as tables, other files verbatim) into the
    same subfolder of the dataset; it is never merged into the events.
    """
    check_policy(on_bad_rows)
    p = Path(path)
    logs = p / WORLD_LOGS if p.is_dir() else p
    if not logs.is_file():
        raise DataError(f"not a world directory: {WORLD_LOGS} is missing", path=str(p))
    mapping = canonical_mapping(parquet_columns(logs))
    raw = read_parquet(logs, required=mapping.source_columns())
    log = _load_tables([(raw, mapping)], source=_source("world", logs, mapping),
                       on_bad_rows=on_bad_rows, dedupe=dedupe, remap_ids=remap_ids)
    extra_root = logs.parent / WORLD_EXTRA_DIR
    if extra_root.is_dir():
        for file in sorted(extra_root.rglob("*")):
            if not file.is_file():
                continue
            rel = file.relative_to(logs.parent).as_posix()
            if file.suffix == ".parquet":
                try:
                    log.extra_tables[rel[: -len(".parquet")]] = pd.read_parquet(file)
                except (OSError, ValueError, pa.ArrowException) as exc:
                    raise DataError(f"cannot read the ground-truth table: {exc}",
                                    path=str(file)) from None
            else:
                log.extra_files[rel] = file
    return log


def load_log(
    format: str,
    path: str | Path,
    *,
    mapping: ColumnMapping | None = None,
    on_bad_rows: OnBadRows = "error",
    dedupe: bool = False,
) -> LoadedLog:
    """Load a log of any known format: the dispatcher the CLI calls.

    Args:
        format: one of ``KNOWN_FORMATS`` (csv, parquet, movielens, kuairand, world).
        path: a file, or a directory for movielens / kuairand / world.
        mapping: column mapping for csv, parquet and kuairand (default: the format's).
        on_bad_rows: ``"error"`` (raise on the first bad row) or ``"drop"`` (count by
            reason in ``report.dropped_by_reason``).
        dedupe: drop events repeating an earlier (user, item, time); always counted.
    """
    fmt = str(format).strip().lower()
    if fmt not in KNOWN_FORMATS:
        raise DataError(f"unknown format {format!r}; known formats: {', '.join(KNOWN_FORMATS)}",
                        path=str(path))
    check_policy(on_bad_rows)
    if mapping is not None and fmt in ("movielens", "world"):
        raise ConfigError(f"format {fmt!r} has a fixed layout and takes no column mapping")
    if fmt == "csv":
        return load_csv(path, mapping=mapping, on_bad_rows=on_bad_rows, dedupe=dedupe)
    if fmt == "parquet":
        return load_parquet(path, mapping=mapping, on_bad_rows=on_bad_rows, dedupe=dedupe)
    if fmt == "movielens":
        return load_movielens(path, on_bad_rows=on_bad_rows, dedupe=dedupe)
    if fmt == "kuairand":
        return load_kuairand(path, mapping=mapping, on_bad_rows=on_bad_rows, dedupe=dedupe)
    return load_world(path, on_bad_rows=on_bad_rows, dedupe=dedupe)

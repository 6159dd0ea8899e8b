"""Prepared datasets: a directory of Parquet tables plus ``metadata.json``.

Layout written by ``prepare_dataset``::

    DIR/
      events.parquet      canonical events in canonical order (row = event index), with
                          ``split`` (leave-one-out) and ``split_time`` (global time split)
      user_map.parquet    user_id (dense) -> raw_user_id
      item_map.parquet    item_id (dense) -> raw_item_id
      ground_truth/...    extra tables / files carried through untouched (world only)
      metadata.json       written last: schema version, source, counts, splits, row
                          accounting (dropped by reason, duplicates), session rule,
                          content fingerprint of events.parquet

``load_dataset(DIR)`` reads it back (refusing a directory that is not a dataset, or one
written with a newer schema version) and checks the fingerprint. ``summarize`` gives the
numbers ``mtrec inspect`` prints. ``ingest`` runs load + validate + sessionise + split +
write in one call (the data-pipeline benchmark times it).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtrec_ray import __version__
from mtrec_ray.data.loaders import LoadedLog, check_extra_key, load_log
from mtrec_ray.data.mapping import ColumnMapping
from mtrec_ray.data.schema import (
    LABEL_PREFIX,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    SCHEMA_VERSION,
    label_columns,
    sort_events,
)
from mtrec_ray.data.sessions import DEFAULT_SESSION_GAP, SessionMode, assign_sessions
from mtrec_ray.data.splits import (
    SPLIT_NAMES,
    as_categorical,
    leave_one_out,
    split_sizes,
    time_split,
)
from mtrec_ray.data.validate import OnBadRows
from mtrec_ray.errors import ArtifactError, DataError

METADATA_FILE = "metadata.json"
EVENTS_FILE = "events.parquet"
USER_MAP_FILE = "user_map.parquet"
ITEM_MAP_FILE = "item_map.parquet"
#: Split columns in events.parquet: leave-one-out and the global time split.
SPLIT_COLUMNS: dict[str, str] = {"loo": "split", "time": "split_time"}
_RESERVED = {METADATA_FILE, EVENTS_FILE, USER_MAP_FILE, ITEM_MAP_FILE}


def fingerprint(events: pd.DataFrame) -> str:
    """Content hash of an events table: column names, dtypes and every value, in order."""
    h = hashlib.sha256()
    h.update(json.dumps([[c, str(events[c].dtype)] for c in events.columns]).encode())
    h.update(pd.util.hash_pandas_object(events, index=False).to_numpy().tobytes())
    return "sha256:" + h.hexdigest()


class Dataset:
    """A prepared dataset: events with splits, id maps and metadata."""

    def __init__(
        self,
        *,
        events: pd.DataFrame,
        user_map: pd.DataFrame,
        item_map: pd.DataFrame,
        metadata: dict[str, Any],
        path: str | Path | None = None,
    ) -> None:
        self.events = events
        self.user_map = user_map
        self.item_map = item_map
        self.metadata = metadata
        self.path = Path(path) if path is not None else None

    def __repr__(self) -> str:
        c = self.metadata.get("counts", {})
        return (f"Dataset(path={str(self.path)!r}, users={c.get('users')}, "
                f"items={c.get('items')}, events={c.get('events')})")

    @property
    def n_users(self) -> int:
        """Size of the user id space (embedding rows): max user id + 1."""
        return int(self.metadata["id_space"]["users"])

    @property
    def n_items(self) -> int:
        """Size of the item id space: max item id + 1."""
        return int(self.metadata["id_space"]["items"])

    def splits(self, kind: str = "loo") -> dict[str, pd.DataFrame]:
        """``{"train": ..., "valid": ..., "test": ...}`` views of the events.

        Args:
            kind: ``"loo"`` (leave-one-out per user) or ``"time"`` (global time split).
        """
        if kind not in SPLIT_COLUMNS:
            raise DataError(f"unknown split kind {kind!r}; use one of {list(SPLIT_COLUMNS)}")
        col = self.events[SPLIT_COLUMNS[kind]]
        return {name: self.events.loc[(col == name).to_numpy()] for name in SPLIT_NAMES}

    def extra_tables(self) -> list[str]:
        """Names of the carried-through tables (for example ``ground_truth/events``)."""
        return list(self.metadata.get("extra_tables", []))

    def read_extra(self, name: str) -> pd.DataFrame:
        """Read a carried-through table; never merged into the events."""
        if name not in self.extra_tables() or self.path is None:
            raise DataError(f"no extra table {name!r}; the dataset has {self.extra_tables()}",
                            path=str(self.path))
        return pd.read_parquet(self.path / f"{name}.parquet")


def _session_lengths(events: pd.DataFrame) -> np.ndarray:
    s = events["session_id"].to_numpy()
    return np.bincount(s) if len(s) else np.zeros(0, dtype=np.int64)


def prepare_dataset(
    log: LoadedLog,
    out_dir: str | Path,
    *,
    session_gap: float = DEFAULT_SESSION_GAP,
    sessions: SessionMode = "auto",
    min_events_loo: int = 3,
    valid_frac: float = 0.1,
    test_frac: float = 0.1,
    overwrite: bool = False,
) -> Dataset:
    """Sessionise, split and write a loaded log as a dataset directory.

    Args:
        log: a validated log (``load_log`` or ``from_frame``).
        out_dir: the directory to write (created; must be empty or a dataset when
            ``overwrite``).
        session_gap: inactivity gap in seconds that starts a new session.
        sessions: ``"auto"`` (given sessions if the source has them, else gap),
            ``"gap"`` or ``"given"``.
        min_events_loo: users with fewer events go entirely to train under
            leave-one-out.
        valid_frac: fraction of events (by time) in the global time split's valid part.
        test_frac: fraction in its test part.
        overwrite: replace an existing dataset in ``out_dir``.

    Returns:
        The dataset, as written.
    """
    out = Path(out_dir)
    _check_out_dir(out, overwrite=overwrite)
    events = sort_events(log.events)
    events, session_mode = assign_sessions(events, mode=sessions, gap_seconds=session_gap,
                                           has_given=log.has_sessions)
    loo = leave_one_out(events, min_events=min_events_loo)
    tsplit, valid_cut, test_cut = time_split(events, valid_frac=valid_frac, test_frac=test_frac)
    events["split"] = as_categorical(loo)
    events["split_time"] = as_categorical(tsplit)
    for key in list(log.extra_tables) + list(log.extra_files):
        check_extra_key(key)
        if Path(key).parts[0] in _RESERVED:
            raise DataError(f"extra table {key!r} would overwrite a dataset file")
    report = log.report
    report.check()
    lengths = _session_lengths(events)
    metadata: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "mtrec_ray_version": __version__,
        "created_unix": int(time.time()),
        "source": log.source,
        "columns": {c: str(events[c].dtype) for c in events.columns},
        "label_columns": label_columns(events),
        "counts": {
            "users": int(events["user_id"].nunique()),
            "items": int(events["item_id"].nunique()),
            "events": int(len(events)),
            "sessions": int(len(lengths)),
        },
        "id_space": {"users": log.n_users, "items": log.n_items},
        "rows": report.to_dict(),
        "sessions": {"mode": session_mode, "gap_seconds": float(session_gap)
                     if session_mode == "gap" else None},
        "splits": {
            "loo": {"column": "split", "min_events": min_events_loo, **split_sizes(loo)},
            "time": {"column": "split_time", "valid_frac": valid_frac, "test_frac": test_frac,
                     "valid_cut": valid_cut, "test_cut": test_cut, **split_sizes(tsplit)},
        },
        "order": "user_id, then timestamp at source precision, ties in source line order "
                 "(stable sort); source_index is the 0-based source data row",
        "extra_tables": sorted(log.extra_tables),
        "extra_files": sorted(log.extra_files),
        "fingerprint": fingerprint(events),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / METADATA_FILE).unlink(missing_ok=True)
    events.to_parquet(out / EVENTS_FILE, index=False)
    log.user_map.to_parquet(out / USER_MAP_FILE, index=False)
    log.item_map.to_parquet(out / ITEM_MAP_FILE, index=False)
    for key, table in log.extra_tables.items():
        dest = out / f"{key}.parquet"
        dest.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(dest, index=False)
    for key, src in log.extra_files.items():
        dest = out / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    (out / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=_json_default))
    return Dataset(events=events, user_map=log.user_map, item_map=log.item_map,
                   metadata=json.loads(json.dumps(metadata, default=_json_default)), path=out)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _check_out_dir(out: Path, *, overwrite: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise DataError("the output path exists and is not a directory", path=str(out))
    entries = list(out.iterdir())
    if not entries:
        return
    if not (out / METADATA_FILE).exists():
        raise DataError("the output directory is not empty and is not a dataset; choose "
                        "another directory", path=str(out))
    if not overwrite:
        raise DataError("a dataset already exists here; pass overwrite=True (--force) to "
                        "replace it", path=str(out))
    for entry in entries:
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def load_dataset(path: str | Path, *, verify: bool = True) -> Dataset:
    """Read a dataset directory written by ``prepare_dataset``.

    Args:
        path: the directory.
        verify: recompute the events fingerprint and refuse a modified table.
    """
    p = Path(path)
    meta_file = p / METADATA_FILE
    if not p.is_dir() or not meta_file.is_file():
        raise DataError(f"not a prepared dataset (no {METADATA_FILE}); create one with "
                        "`mtrec ingest` or prepare_dataset()", path=str(p))
    try:
        metadata = json.loads(meta_file.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"unreadable {METADATA_FILE}: {exc}", path=str(meta_file)) from None
    version = metadata.get("schema_version")
    if not isinstance(version, int):
        raise DataError(f"{METADATA_FILE} has no integer schema_version", path=str(meta_file))
    if version > SCHEMA_VERSION:
        raise ArtifactError(
            f"dataset {p} has schema version {version}, newer than this mtrec-ray's "
            f"{SCHEMA_VERSION}; upgrade mtrec-ray or re-ingest the source"
        )
    tables = {}
    for name in (EVENTS_FILE, USER_MAP_FILE, ITEM_MAP_FILE):
        try:
            tables[name] = pd.read_parquet(p / name)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read {name}: {exc}", path=str(p / name)) from None
    events = tables[EVENTS_FILE]
    missing = [c for c in REQUIRED_COLUMNS if c not in events.columns]
    if missing:
        raise DataError(f"events table lacks required column(s) {missing}",
                        path=str(p / EVENTS_FILE), column=missing[0])
    if verify and fingerprint(events) != metadata.get("fingerprint"):
        raise ArtifactError(f"{p / EVENTS_FILE} does not match the fingerprint in "
                            f"{METADATA_FILE} (modified after preparation?); re-ingest it")
    return Dataset(events=events, user_map=tables[USER_MAP_FILE],
                   item_map=tables[ITEM_MAP_FILE], metadata=metadata, path=p)


def _quantiles(x: np.ndarray, qs: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)) -> dict:
    if len(x) == 0:
        return {}
    vals = np.quantile(x, qs)
    return {f"p{int(round(q * 100))}": float(v) for q, v in zip(qs, vals, strict=True)}


def summarize(dataset: Dataset | pd.DataFrame) -> dict[str, Any]:
    """Numbers for ``mtrec inspect``: sizes, CTR, watch-ratio and session-length stats.

    Args:
        dataset: a dataset, or a canonical events table with sessions assigned.
    """
    events = dataset.events if isinstance(dataset, Dataset) else dataset
    lengths = _session_lengths(events)
    lengths = lengths[lengths > 0]
    per_user = np.bincount(events["user_id"].to_numpy()) if len(events) else np.zeros(0)
    per_user = per_user[per_user > 0]
    out: dict[str, Any] = {
        "users": int(events["user_id"].nunique()),
        "items": int(events["item_id"].nunique()),
        "events": int(len(events)),
        "sessions": int(len(lengths)),
        "time_span": {"first": int(events["timestamp"].min()),
                      "last": int(events["timestamp"].max())} if len(events) else {},
        "events_per_user": {"mean": float(per_user.mean()) if len(per_user) else 0.0,
                            **_quantiles(per_user)},
        "session_length": {"mean": float(lengths.mean()) if len(lengths) else 0.0,
                           "max": int(lengths.max()) if len(lengths) else 0,
                           **_quantiles(lengths),
                           "histogram": _length_histogram(lengths)},
        "training_columns": [c for c in events.columns if not c.startswith(LABEL_PREFIX)
                             and c in {**REQUIRED_COLUMNS, **OPTIONAL_COLUMNS}
                             and c != "source_index"],
        "label_columns": label_columns(events),
    }
    if "click" in events.columns:
        out["ctr"] = float(events["click"].mean())
    if "watch_ratio" in events.columns:
        wr = events["watch_ratio"].to_numpy(dtype=np.float64)
        if "click" in events.columns:
            wr = wr[events["click"].to_numpy() == 1]
        out["watch_ratio"] = {"mean": float(wr.mean()) if len(wr) else 0.0,
                              **_quantiles(wr), "over_1": float((wr > 1).mean()) if len(wr)
                              else 0.0}
    if "watch_time" in events.columns:
        out["watch_time_per_user"] = float(events["watch_time"].sum() / max(out["users"], 1))
    if isinstance(dataset, Dataset):
        meta = dataset.metadata
        out["splits"] = {k: {n: v[n] for n in SPLIT_NAMES}
                         for k, v in meta.get("splits", {}).items()}
        out["rows"] = meta.get("rows", {})
        out["source"] = {k: meta.get("source", {}).get(k) for k in ("format", "path")}
    return out


def _length_histogram(lengths: np.ndarray) -> dict[str, int]:
    """Session counts in length bins 1, 2, 3-5, 6-10, 11-20, 21-50, 51+."""
    edges = [(1, 1), (2, 2), (3, 5), (6, 10), (11, 20), (21, 50)]
    hist = {(f"{lo}" if lo == hi else f"{lo}-{hi}"): int(((lengths >= lo) & (lengths <= hi)).sum())
            for lo, hi in edges}
    hist["51+"] = int((lengths > 50).sum())
    return hist


def ingest(
    format: str,
    path: str | Path,
    out_dir: str | Path,
    *,
    mapping: ColumnMapping | None = None,
    on_bad_rows: OnBadRows = "error",
    dedupe: bool = False,
    session_gap: float = DEFAULT_SESSION_GAP,
    sessions: SessionMode = "auto",
    valid_frac: float = 0.1,
    test_frac: float = 0.1,
    overwrite: bool = False,
) -> Dataset:
    """Load + validate + sessionise + split + write: the whole ingest in one call.

    Arguments are those of ``load_log`` and ``prepare_dataset``. The returned dataset's
    ``metadata["timing"]`` holds the seconds spent loading and preparing.
    """
    t0 = time.perf_counter()
    log = load_log(format, path, mapping=mapping, on_bad_rows=on_bad_rows, dedupe=dedupe)
    t1 = time.perf_counter()
    ds = prepare_dataset(log, out_dir, session_gap=session_gap, sessions=sessions,
                         valid_frac=valid_frac, test_frac=test_frac, overwrite=overwrite)
    t2 = time.perf_counter()
    ds.metadata["timing"] = {"load_s": t1 - t0, "prepare_s": t2 - t1, "total_s": t2 - t0}
    return ds

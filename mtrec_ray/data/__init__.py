"""The validated log data layer: raw logs -> canonical events -> splits -> transitions.

Public API (everything a command or a learner needs)::

    log = load_log(format, path, mapping=None, on_bad_rows="error", dedupe=False)
        # format in KNOWN_FORMATS: csv, parquet, movielens, kuairand, world
        # -> LoadedLog(events, user_map, item_map, report: LoadReport, source, ...)
    log = from_frame(df, name="<frame>", remap_ids=True, extra_tables=None)
    mapping = ColumnMapping.load("mapping.yaml", ["user=uid", "timestamp_format=unix_ms"])
    ds = prepare_dataset(log, out_dir, session_gap=1800, sessions="auto",
                         valid_frac=0.1, test_frac=0.1, overwrite=False)
    ds = load_dataset(out_dir)            # Dataset(events, user_map, item_map, metadata)
    ds.splits("loo") / ds.splits("time")  # {"train", "valid", "test"} frames
    info = summarize(ds)                  # for `mtrec inspect`
    ds = ingest(format, path, out_dir, ...)   # load + prepare in one call
    tr = build_transitions(ds.events, history_len=10, cross_session=True, split="train")

Modules: ``schema`` (the canonical columns, the one definition), ``mapping`` (column
mappings and format presets), ``readers`` (CSV/Parquet into Arrow with row numbers),
``validate`` (vectorised value checks, bad-row policy, row accounting), ``loaders``,
``sessions``, ``splits``, ``transitions``, ``dataset`` (directory layout, metadata,
summaries) and ``synthetic`` (raw KuaiRand-style logs for benchmarks).

Bad input raises ``mtrec_ray.errors.DataError`` naming the file, the 1-based data row
and the column. With ``on_bad_rows="drop"`` bad rows are dropped and counted by reason;
``rows_in == rows_kept + rows_dropped`` always holds (``LoadReport.check``).
"""

from __future__ import annotations

from mtrec_ray.data.dataset import (
    Dataset,
    fingerprint,
    ingest,
    load_dataset,
    prepare_dataset,
    summarize,
)
from mtrec_ray.data.loaders import (
    KNOWN_FORMATS,
    LoadedLog,
    from_frame,
    load_csv,
    load_kuairand,
    load_log,
    load_movielens,
    load_parquet,
    load_world,
)
from mtrec_ray.data.mapping import ColumnMapping
from mtrec_ray.data.sessions import assign_sessions, gap_sessions
from mtrec_ray.data.splits import SPLIT_NAMES, leave_one_out, time_split
from mtrec_ray.data.transitions import PAD_ID, Transitions, build_transitions
from mtrec_ray.data.validate import BAD_ROW_POLICIES, LoadReport

__all__ = [
    "BAD_ROW_POLICIES",
    "KNOWN_FORMATS",
    "PAD_ID",
    "SPLIT_NAMES",
    "ColumnMapping",
    "Dataset",
    "LoadReport",
    "LoadedLog",
    "Transitions",
    "assign_sessions",
    "build_transitions",
    "fingerprint",
    "from_frame",
    "gap_sessions",
    "ingest",
    "leave_one_out",
    "load_csv",
    "load_dataset",
    "load_kuairand",
    "load_log",
    "load_movielens",
    "load_parquet",
    "load_world",
    "prepare_dataset",
    "summarize",
    "time_split",
]

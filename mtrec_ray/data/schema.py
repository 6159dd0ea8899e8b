"""The canonical interaction log: one obvious definition of its columns.

Every loader (MovieLens, KuaiRand-style, generic CSV/Parquet, the ground-truth world)
produces a ``pandas.DataFrame`` with these columns. One row is one *exposure or
interaction event* of one user with one item.

Required columns (never null):

========== ======= ============================================================
column     dtype   meaning
========== ======= ============================================================
user_id    int64   dense user index 0..n_users-1 (raw ids are kept in the id map)
item_id    int64   dense item index 0..n_items-1
timestamp  int64   seconds since the epoch (or since the world's start)
session_id int64   global session index; sessions never span users
========== ======= ============================================================

Optional columns (present when the source has them):

============ ======= ===========================================================
column       dtype   meaning
============ ======= ===========================================================
slate_id     int64   id of the slate (exposure set) the item was shown in
position     int64   0-based position of the item in its slate
click        int8    1 if the user clicked / consumed the item, else 0
watch_time   float64 seconds watched (0 when not clicked)
watch_ratio  float64 watch_time / duration, in [0, +inf) (>1 means replays)
duration     float64 item duration in seconds (an observable nuisance)
long_view    int8    1 if the view counted as a long view (KuaiRand); implicit
                     feedback, so a training column like ``click``
source_index int64   0-based position of the event's record among the data rows
                     of its source (data row ``r`` in error messages is
                     ``source_index + 1``; several source files continue the count
                     in file order); links an event back to its file line and to
                     the ground-truth world's tables. Every loader adds it.
label_*      any     explicit feedback (rating, like, hate, ...). Evaluation only:
                     training code must never read ``label_`` columns.
============ ======= ===========================================================

Order of events within a user: by timestamp with a *stable* sort, so events with equal
timestamps keep the source file's line order (see ``sort_events``). Loaders order by
the source's full-precision time (for example milliseconds) before ``timestamp`` is
floored to seconds, so events within one second keep their true order.
"""

from __future__ import annotations

import pandas as pd

SCHEMA_VERSION = 1

REQUIRED_COLUMNS: dict[str, str] = {
    "user_id": "int64",
    "item_id": "int64",
    "timestamp": "int64",
    "session_id": "int64",
}

OPTIONAL_COLUMNS: dict[str, str] = {
    "slate_id": "int64",
    "position": "int64",
    "click": "int8",
    "watch_time": "float64",
    "watch_ratio": "float64",
    "duration": "float64",
    "long_view": "int8",
    "source_index": "int64",
}

LABEL_PREFIX = "label_"


def label_columns(df: pd.DataFrame) -> list[str]:
    """Return the explicit-feedback columns (evaluation only)."""
    return [c for c in df.columns if c.startswith(LABEL_PREFIX)]


def training_columns(df: pd.DataFrame) -> list[str]:
    """Return the columns training code may read (everything but ``label_*``)."""
    return [c for c in df.columns if not c.startswith(LABEL_PREFIX)]


def sort_events(df: pd.DataFrame) -> pd.DataFrame:
    """Order events by user, then timestamp, ties kept in source order (stable sort)."""
    return df.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)

"""Column mappings: where each canonical column comes from in a source table.

A ``ColumnMapping`` is a typed config dataclass (``mtrec_ray.config``), so it loads from
YAML and from CLI-style ``key=value`` pairs with the same rules as every other config::

    mapping = ColumnMapping.load("mapping.yaml", ["timestamp_format=unix_ms"])
    mapping = ColumnMapping.from_pairs(["user=uid", "item=vid", "labels=rating"])

Presets for the formats ``load_log`` knows are defined here too (MovieLens, KuaiRand).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from mtrec_ray.config import from_dict, load_config, merge_overrides, to_dict
from mtrec_ray.data.schema import LABEL_PREFIX
from mtrec_ray.errors import ConfigError

#: Timestamp formats other than a ``strftime`` pattern (any text containing ``%``).
TIMESTAMP_FORMATS: dict[str, float] = {
    "unix_s": 1.0,
    "unix_ms": 1e3,
    "unix_us": 1e6,
    "unix_ns": 1e9,
    "iso": 0.0,
}

_UNIT_SCALE = {"s": 1.0, "ms": 1e3}

_DELIMITER_ALIASES = {"\\t": "\t", "tab": "\t", "TAB": "\t", "comma": ",", "semicolon": ";",
                      "pipe": "|", "space": " "}

#: Canonical column -> ``ColumnMapping`` field naming its source column.
MAPPED_COLUMNS: dict[str, str] = {
    "user_id": "user",
    "item_id": "item",
    "timestamp": "timestamp",
    "session_id": "session",
    "slate_id": "slate",
    "position": "position",
    "click": "click",
    "watch_time": "watch_time",
    "watch_ratio": "watch_ratio",
    "duration": "duration",
    "long_view": "long_view",
}


@dataclass(kw_only=True)
class ColumnMapping:
    """Source column names and formats for one log table.

    Canonical columns not mapped (``None``) are absent from the output. ``labels`` lists
    explicit-feedback columns to keep as ``label_<name>``: each entry is ``source`` (kept
    as ``label_<source>``) or ``source:name`` (kept as ``label_<name>``).
    """

    user: str = "user_id"
    """Source column of the user id."""
    item: str = "item_id"
    """Source column of the item id."""
    timestamp: str = "timestamp"
    """Source column of the event time."""
    session: str | None = None
    """Source column of a session id (sessions are then taken as given)."""
    slate: str | None = None
    """Source column of the slate / exposure id."""
    position: str | None = None
    """Source column of the 0-based position in the slate."""
    click: str | None = None
    """Source column of the click / consumption flag (0/1 or true/false)."""
    watch_time: str | None = None
    """Source column of the watch time."""
    watch_ratio: str | None = None
    """Source column of the watch ratio; computed from watch_time/duration when unset."""
    duration: str | None = None
    """Source column of the item duration."""
    long_view: str | None = None
    """Source column of a long-view flag (0/1)."""
    labels: list[str] = field(default_factory=list)
    """Explicit-feedback columns kept as ``label_*``: ``source`` or ``source:name``."""
    timestamp_format: str = "unix_s"
    """unix_s, unix_ms, unix_us, unix_ns, iso, or a strftime pattern like %Y-%m-%d %H:%M."""
    watch_time_unit: Literal["s", "ms"] = "s"
    """Unit of the watch-time column."""
    duration_unit: Literal["s", "ms"] = "s"
    """Unit of the duration column."""
    delimiter: str = ","
    """Field delimiter of CSV files (``\\t``/``tab`` for tabs; ``::`` is allowed)."""
    header: bool = True
    """Whether the CSV file starts with a header line."""
    names: list[str] = field(default_factory=list)
    """Column names of a header-less CSV file, in file order."""
    string_ids: bool = False
    """Keep user/item ids as text (hash-like ids); otherwise they must be integers."""

    def __post_init__(self) -> None:
        self.delimiter = _DELIMITER_ALIASES.get(self.delimiter, self.delimiter)

    def validate(self) -> None:
        """Raise ConfigError with a fix-it message when a value cannot work."""
        fmt = self.timestamp_format
        if fmt not in TIMESTAMP_FORMATS and "%" not in fmt:
            raise ConfigError(
                f"timestamp_format={fmt!r} is unknown; use one of {sorted(TIMESTAMP_FORMATS)} "
                "or a strftime pattern such as '%Y-%m-%d %H:%M:%S'"
            )
        if not self.delimiter or "\n" in self.delimiter or "\r" in self.delimiter:
            raise ConfigError(f"delimiter={self.delimiter!r} must be a non-empty separator")
        if len(self.delimiter) > 1 and self.delimiter != "::":
            raise ConfigError(
                f"delimiter={self.delimiter!r}: only single characters and '::' are supported"
            )
        if not self.header and not self.names:
            raise ConfigError("header=false needs names=<col1,col2,...> (the file's columns)")
        if len(set(self.names)) != len(self.names):
            raise ConfigError(f"names={self.names} has duplicates")
        sources = self.source_columns()
        seen: dict[str, str] = {}
        for canonical, src in sources.items():
            if src in seen:
                raise ConfigError(
                    f"source column {src!r} is mapped twice ({seen[src]} and {canonical})"
                )
            seen[src] = canonical
        if self.names:
            missing = [s for s in sources.values() if s not in self.names]
            if missing:
                raise ConfigError(f"mapped column(s) {missing} are not in names={self.names}")

    def label_targets(self) -> dict[str, str]:
        """Map ``label_<name>`` output columns to their source columns."""
        out: dict[str, str] = {}
        for entry in self.labels:
            src, _, name = entry.partition(":")
            src = src.strip()
            name = (name or src).strip()
            if not src or not name:
                raise ConfigError(f"labels entry {entry!r} must be 'source' or 'source:name'")
            target = name if name.startswith(LABEL_PREFIX) else LABEL_PREFIX + name
            if target in out:
                raise ConfigError(f"labels: two entries produce the column {target!r}")
            out[target] = src
        return out

    def source_columns(self) -> dict[str, str]:
        """Every output column (canonical and ``label_*``) -> its source column."""
        out = {
            canonical: getattr(self, attr)
            for canonical, attr in MAPPED_COLUMNS.items()
            if getattr(self, attr) is not None
        }
        out.update(self.label_targets())
        return out

    @property
    def timestamp_scale(self) -> float:
        """Units per second of a numeric timestamp (0 for text formats)."""
        return TIMESTAMP_FORMATS.get(self.timestamp_format, 0.0)

    @property
    def watch_time_scale(self) -> float:
        """Units per second of the watch-time column."""
        return _UNIT_SCALE[self.watch_time_unit]

    @property
    def duration_scale(self) -> float:
        """Units per second of the duration column."""
        return _UNIT_SCALE[self.duration_unit]

    @classmethod
    def load(
        cls, path: str | Path | None = None, pairs: Sequence[str] | None = None
    ) -> ColumnMapping:
        """Defaults < YAML file at ``path`` < ``key=value`` pairs, then validate."""
        return load_config(cls, path, list(pairs or []))

    @classmethod
    def from_pairs(cls, pairs: Sequence[str]) -> ColumnMapping:
        """Build from CLI-style ``key=value`` pairs (for example ``user=uid``)."""
        return cls.load(None, pairs)

    def with_overrides(self, pairs: Sequence[str]) -> ColumnMapping:
        """A copy with ``key=value`` pairs applied on top of this mapping."""
        return from_dict(ColumnMapping, merge_overrides(to_dict(self), list(pairs)))


MOVIELENS_100K = ColumnMapping(
    user="user_id", item="item_id", timestamp="timestamp", labels=["rating"],
    delimiter="\t", header=False, names=["user_id", "item_id", "rating", "timestamp"],
)
"""MovieLens-100K ``u.data``: tab-separated, no header."""

MOVIELENS_DAT = replace(MOVIELENS_100K, delimiter="::")
"""MovieLens-1M/10M ``ratings.dat``: ``::``-separated, no header."""

MOVIELENS_CSV = ColumnMapping(
    user="userId", item="movieId", timestamp="timestamp", labels=["rating"], delimiter=","
)
"""MovieLens-20M/25M (and ml-latest) ``ratings.csv`` with a header."""

KUAIRAND = ColumnMapping(
    user="user_id",
    item="video_id",
    timestamp="time_ms",
    timestamp_format="unix_ms",
    click="is_click",
    watch_time="play_time_ms",
    watch_time_unit="ms",
    duration="duration_ms",
    duration_unit="ms",
    long_view="long_view",
    labels=["is_like:like", "is_follow:follow", "is_comment:comment", "is_forward:forward",
            "is_hate:hate"],
)
"""KuaiRand logs. ``long_view`` is implicit feedback and stays a training column; the
explicit actions (like, follow, comment, forward, hate) become ``label_*``."""

#: KuaiRand columns that may be absent from a log file (dropped from the preset if so).
KUAIRAND_OPTIONAL = ("duration_ms", "long_view", "is_like", "is_follow", "is_comment",
                     "is_forward", "is_hate")

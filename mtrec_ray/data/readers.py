"""Raw readers: CSV and Parquet files into Arrow tables, with row numbers kept.

Parsing is pyarrow's C++ reader (single-threaded, so it can report line numbers). The
reader is permissive about values: a first pass reads the mapped columns with their
target types; when any value does not convert, a second pass reads them as text and
``mtrec_ray.data.validate`` locates the bad rows, vectorised. Structural problems
(missing file, empty file, wrong delimiter, missing columns, rows with a wrong number of
fields) are found here.

Row numbers follow ``DataError``: the 1-based *data* row, the header being row 0. Rows
with a wrong number of fields are skipped by the parser and reported with their row
number, so every table row keeps its true file row. Trailing blank lines are ignored.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mtrec_ray.errors import DataError

#: Delimiters the wrong-delimiter detector looks for.
_CANDIDATE_DELIMITERS = ("\t", ",", ";", "|", "::", " ")
_DELIMITER_NAMES = {"\t": "tab '\\t'", ",": "comma ','", ";": "semicolon ';'",
                    "|": "pipe '|'", "::": "'::'", " ": "space ' '"}
#: Stand-in byte for the multi-character ``::`` delimiter (pyarrow needs one byte).
_UNIT_SEPARATOR = b"\x1f"


@dataclass(kw_only=True)
class MalformedRow:
    """A row the parser skipped because its number of fields is wrong."""

    row: int
    """1-based data row."""
    n_fields: int
    """Fields found."""
    text: str
    """The row's text."""


@dataclass(kw_only=True)
class RawTable:
    """A source table as read, before value validation."""

    table: pa.Table
    """The mapped columns (typed, or text when a value did not convert)."""
    path: str
    """The file, as shown in error messages."""
    data_rows: np.ndarray
    """1-based data row of each table row (int64)."""
    columns: list[str]
    """Every column of the source (header or schema order)."""
    n_fields: int
    """Number of fields a row should have."""
    malformed: list[MalformedRow] = field(default_factory=list)
    """Rows skipped for a wrong number of fields."""

    @property
    def rows_in(self) -> int:
        """Data rows in the source, counting malformed ones."""
        return self.table.num_rows + len(self.malformed)


def delimiter_name(delimiter: str) -> str:
    """Human name of a delimiter, for messages."""
    return _DELIMITER_NAMES.get(delimiter, repr(delimiter))


def _split_line(line: str, delimiter: str) -> list[str]:
    if len(delimiter) > 1:
        return line.split(delimiter)
    return next(csv.reader([line], delimiter=delimiter), [""])


def _first_line(path: Path) -> str:
    with path.open("rb") as fh:
        raw = fh.readline()
    return raw.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")


def check_file(path: str | Path) -> Path:
    """Return ``path`` as a Path or raise DataError when it is missing or a directory."""
    p = Path(path)
    if not p.exists():
        raise DataError("the file does not exist", path=str(p))
    if p.is_dir():
        raise DataError("is a directory; expected a file", path=str(p))
    return p


def read_header(path: str | Path, *, delimiter: str, header: bool,
                names: Sequence[str] = (), expected: Sequence[str] = ()) -> list[str]:
    """Column names of a CSV file (its header line, or ``names`` without a header).

    Args:
        path: the file.
        delimiter: the field delimiter.
        header: whether the first line is a header.
        names: the columns of a header-less file.
        expected: the columns the caller needs (named in messages).
    """
    p = check_file(path)
    want = (f" with columns {list(expected)}" if expected else "")
    if p.stat().st_size == 0:
        raise DataError(f"the file is empty (0 bytes); expected "
                        f"{'a header line' + want + ' and ' if header else ''}data rows",
                        path=str(p), row=0)
    line = _first_line(p)
    if not line.strip():
        with p.open("rb") as fh:
            if not fh.read(1 << 16).strip():
                raise DataError(f"the file is empty (only blank lines); expected "
                                f"{'a header line' + want + ' and ' if header else ''}"
                                "data rows", path=str(p), row=0)
        raise DataError(f"the first line is blank; expected "
                        f"{'a header' if header else 'a data row'}",
                        path=str(p), row=0 if header else 1)
    fields = _split_line(line, delimiter)
    expected = len(names) if not header else None
    if len(fields) == 1 and (expected is None or expected > 1):
        found = [d for d in _CANDIDATE_DELIMITERS if d != delimiter and d in line]
        hint = (f"; the line contains {delimiter_name(found[0])}: set delimiter="
                f"{found[0]!r}" if found else "")
        what = "the header" if header else "the first row"
        raise DataError(
            f"wrong delimiter? {what} has one column {line!r}; expected delimiter "
            f"{delimiter_name(delimiter)}{hint}",
            path=str(p), row=0 if header else 1,
            column=fields[0][:60].replace("\t", "\\t") if header else None,
        )
    if not header:
        if len(fields) != len(names):
            raise DataError(
                f"the first row has {len(fields)} field(s) but {len(names)} column names "
                f"were given ({list(names)}); wrong format or delimiter?",
                path=str(p), row=1,
            )
        return list(names)
    return fields


def require_columns(found: Sequence[str], required: Mapping[str, str], *, path: str) -> None:
    """Raise DataError for the first required source column absent from ``found``.

    Args:
        found: the columns the file has.
        required: output column -> source column.
        path: the file, for the message.
    """
    present = set(found)
    for target, src in required.items():
        if src not in present:
            raise DataError(
                f"missing required column {src!r} (source of {target!r}); the file has "
                f"columns {list(found)}",
                path=path, column=src,
            )


def _data_rows(n: int, skipped: list[int]) -> np.ndarray:
    """1-based data row of each of ``n`` table rows, given the skipped data rows."""
    rows = np.arange(1, n + 1, dtype=np.int64)
    if skipped:
        s = np.sort(np.asarray(skipped, dtype=np.int64))
        shifted = s - np.arange(len(s), dtype=np.int64)
        rows += np.searchsorted(shifted, rows, side="right")
    return rows


def _strip_trailing_blank(table: pa.Table) -> pa.Table:
    """Drop all-null rows at the end of the table (trailing blank lines)."""
    n = table.num_rows
    if n == 0 or table.num_columns == 0:
        return table
    tail = min(n, 64)
    end = table.slice(n - tail)
    null_all = np.ones(tail, dtype=bool)
    for col in end.columns:
        null_all &= np.asarray(col.is_null(), dtype=bool)
    keep = tail
    while keep > 0 and null_all[keep - 1]:
        keep -= 1
    return table.slice(0, n - tail + keep) if keep < tail else table


def read_csv(
    path: str | Path,
    *,
    delimiter: str,
    header: bool,
    names: Sequence[str] = (),
    required: Mapping[str, str],
    types: Mapping[str, pa.DataType],
) -> RawTable:
    """Read the mapped columns of a CSV file.

    Args:
        path: the file.
        delimiter: one character, or ``::``.
        header: whether the first line names the columns.
        names: column names of a header-less file.
        required: output column -> source column; all must exist.
        types: source column -> Arrow type for the first, typed pass.

    Returns:
        The table with its data-row numbers and the malformed rows it skipped.
    """
    p = check_file(path)
    columns = read_header(p, delimiter=delimiter, header=header, names=names,
                          expected=list(dict.fromkeys(required.values())))
    require_columns(columns, required, path=str(p))
    source: object = str(p)
    sep = delimiter
    if len(delimiter) > 1:
        source = io.BytesIO(p.read_bytes().replace(delimiter.encode(), _UNIT_SEPARATOR))
        sep = _UNIT_SEPARATOR.decode()
    wanted = list(dict.fromkeys(required.values()))
    malformed: list[MalformedRow] = []
    header_lines = 1 if header else 0

    def on_invalid(row: pacsv.InvalidRow) -> str:
        number = row.number if row.number is not None else -1
        malformed.append(MalformedRow(row=number - header_lines, n_fields=row.actual_columns,
                                       text=row.text))
        return "skip"

    def attempt(column_types: Mapping[str, pa.DataType]) -> pa.Table:
        malformed.clear()
        if isinstance(source, io.BytesIO):
            source.seek(0)
        return pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(
                use_threads=False,
                block_size=1 << 24,
                column_names=list(names) if not header else None,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=sep, ignore_empty_lines=False, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted,
                column_types=dict(column_types),
                strings_can_be_null=True,
            ),
        )

    # Typed first; a column whose values do not all convert is re-read as text (one
    # column at a time when pyarrow names it), and validate.py locates its bad rows.
    column_types = {c: t for c, t in types.items() if c in wanted}
    table = None
    try:
        while table is None:
            try:
                table = attempt(column_types)
            except pa.ArrowInvalid as exc:
                text = str(exc)
                if "conversion error" not in text.lower():
                    raise
                found = re.search(r"column #(\d+)", text)
                index = int(found.group(1)) if found else -1
                name = columns[index] if 0 <= index < len(columns) else None
                if name is None or column_types.get(name) == pa.string():
                    if all(t == pa.string() for t in column_types.values()):
                        raise
                    column_types = {c: pa.string() for c in wanted}
                else:
                    column_types[name] = pa.string()
    except pa.ArrowInvalid as exc:
        raise DataError(f"cannot parse the file as CSV: {exc}", path=str(p)) from None
    table = _strip_trailing_blank(table)
    if table.num_rows + len(malformed) == 0:
        raise DataError(
            "the file has no data rows" + (f" (only a header with columns {columns})"
                                           if header else ""),
            path=str(p), row=1,
        )
    data_rows = _data_rows(table.num_rows, [m.row for m in malformed])
    return RawTable(table=table, path=str(p), data_rows=data_rows, columns=list(columns),
                    n_fields=len(columns), malformed=malformed)


def parquet_columns(path: str | Path) -> list[str]:
    """Column names of a Parquet file (DataError when it is not one)."""
    p = check_file(path)
    if p.stat().st_size == 0:
        raise DataError("the file is empty (0 bytes); expected a Parquet file", path=str(p),
                        row=0)
    try:
        return list(pq.read_schema(p).names)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"not a readable Parquet file: {exc}", path=str(p)) from None


def read_parquet(path: str | Path, *, required: Mapping[str, str]) -> RawTable:
    """Read the mapped columns of a Parquet file; rows are numbered from 1."""
    p = check_file(path)
    columns = parquet_columns(p)
    require_columns(columns, required, path=str(p))
    wanted = list(dict.fromkeys(required.values()))
    try:
        table = pq.read_table(p, columns=wanted)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read the Parquet file: {exc}", path=str(p)) from None
    if table.num_rows == 0:
        raise DataError("the file has no data rows", path=str(p), row=1)
    return RawTable(table=table, path=str(p),
                    data_rows=np.arange(1, table.num_rows + 1, dtype=np.int64),
                    columns=columns, n_fields=len(columns))


def table_from_frame(frame: object, *, name: str, required: Mapping[str, str]) -> RawTable:
    """Wrap an in-memory pandas DataFrame as a RawTable; rows are numbered from 1."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(frame).__name__}", path=name)
    columns = [str(c) for c in frame.columns]
    require_columns(columns, required, path=name)
    if len(frame) == 0:
        raise DataError("the table has no rows", path=name, row=1)
    wanted = list(dict.fromkeys(required.values()))
    try:
        table = pa.Table.from_pandas(frame[wanted], preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise DataError(f"cannot convert the table: {exc}", path=name) from None
    return RawTable(table=table, path=name,
                    data_rows=np.arange(1, len(frame) + 1, dtype=np.int64),
                    columns=columns, n_fields=len(columns))

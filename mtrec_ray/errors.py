"""Exceptions with messages a user can act on."""

from __future__ import annotations


class MtrecError(Exception):
    """Base class for every error mtrec-ray raises on purpose."""


class ConfigError(MtrecError, ValueError):
    """A configuration value or key is wrong; the message says how to fix it."""


class DataError(MtrecError, ValueError):
    """Input data is malformed.

    The message names the file, the 1-based data row (the header is row 0 for CSV) and
    the column, so a user can open the file and fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = path
        self.row = row
        self.column = column
        where = []
        if path is not None:
            where.append(f"file {path}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)


class ArtifactError(MtrecError, ValueError):
    """A saved artifact does not match the code's format version or the dataset."""

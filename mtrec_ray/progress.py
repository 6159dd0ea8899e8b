"""Progress reporting for long steps: rich progress bars on a terminal, plain lines in logs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

Log = Callable[[str], None]
"""Callback that long-running steps call with one status line."""


class ProgressFn(Protocol):
    """Callback that long-running functions call with (done, total, description)."""

    def __call__(self, done: int, total: int, description: str = "") -> None: ...


def console_print(message: str) -> None:
    """Print a status line to stderr (stdout stays clean for machine-readable output)."""
    try:
        from rich.console import Console

        Console(stderr=True, highlight=False).print(message)
    except ImportError:  # pragma: no cover - rich is a dependency
        print(message, file=sys.stderr)


@contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[ProgressFn]:
    """Context manager yielding a ``ProgressFn`` that drives one progress bar.

    On a terminal this is a rich bar; otherwise (CI, ``ray job logs``) it prints a line
    at most every 5 seconds and at the end, so logs show progress without flooding.
    """
    if not enabled:
        yield lambda done, total, desc="": None
        return
    if sys.stderr.isatty():
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        ) as prog:
            task = prog.add_task(description, total=None)

            def update(done: int, total: int, desc: str = "") -> None:
                prog.update(task, completed=done, total=total, description=desc or description)

            yield update
        return

    state = {"last": 0.0}
    start = time.monotonic()

    def update_plain(done: int, total: int, desc: str = "") -> None:
        now = time.monotonic()
        if now - state["last"] >= 5.0 or done >= total:
            state["last"] = now
            pct = 100.0 * done / max(total, 1)
            print(
                f"{desc or description}: {done}/{total} ({pct:.0f}%) {now - start:.1f}s",
                file=sys.stderr,
                flush=True,
            )

    yield update_plain

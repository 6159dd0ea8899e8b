"""A self-contained ``report.html``: headline numbers, tables and PNG plots embedded as base64."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f3f3f3}
img{max-width:100%;border:1px solid #eee;margin:.3em 0 1em}
.note{color:#555;font-size:.9em}
.ok{color:#1a7f37;font-weight:bold}.bad{color:#b42318;font-weight:bold}
"""


@dataclass
class Section:
    """One report section: a heading, paragraphs, tables and images (in that order)."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    """Plain-text paragraphs (escaped)."""
    tables: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    """(caption, rows) pairs; the columns are the first row's keys."""
    images: list[tuple[str, Path]] = field(default_factory=list)
    """(caption, PNG path) pairs; missing files are listed, not fatal."""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return html.escape(str(v))


def table_html(rows: Sequence[dict[str, Any]], caption: str = "") -> str:
    """An HTML table from a list of dicts (columns: the union of keys, in first-seen order)."""
    if not rows:
        return f"<p class='note'>{html.escape(caption)}: nothing to show</p>"
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<tr>{head}</tr>{body}</table>"


def image_html(path: str | Path, caption: str = "") -> str:
    """An ``<img>`` with the PNG inlined as a base64 data URI."""
    p = Path(path)
    if not p.exists():
        return f"<p class='note'>(plot {html.escape(p.name)} was not produced)</p>"
    data = base64.b64encode(p.read_bytes()).decode("ascii")
    cap = f"<p class='note'>{html.escape(caption)}</p>" if caption else ""
    return f"{cap}<img alt='{html.escape(caption or p.name)}' src='data:image/png;base64,{data}'>"


def write_report(path: str | Path, *, title: str, sections: Sequence[Section], status: str = "") -> Path:
    """Write one HTML file with no external references (images embedded)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if status:
        parts.append(status)
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        parts += [f"<p>{html.escape(t)}</p>" for t in s.paragraphs]
        parts += [table_html(rows, cap) for cap, rows in s.tables]
        parts += [image_html(p, cap) for cap, p in s.images]
    parts.append("</body></html>")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts), encoding="utf-8")
    return out

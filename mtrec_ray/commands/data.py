"""``mtrec generate``, ``mtrec ingest``, ``mtrec inspect``: the data layer on the CLI."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from mtrec_ray.cli import _common, _print_json, command
from mtrec_ray.progress import console_print, progress_bar
from mtrec_ray.storage import local_input, output_dir

WORLD_REPORT = "ground_truth/world_report.json"


def _generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preset",
        default="default",
        help="world preset: default (strong bait), aligned (clicks track satisfaction), "
        "polarising (high reward variance)",
    )
    p.add_argument("--users", type=int, default=None, help="number of users (default: preset's)")
    p.add_argument("--items", type=int, default=None, help="number of items (default: preset's)")
    p.add_argument("--days", type=float, default=None, help="simulated days per user (default: preset's)")
    _common(p, out_default=None)


def generate_world_dataset(
    *,
    preset: str,
    out: Path,
    seed: int,
    users: int | None = None,
    items: int | None = None,
    days: float | None = None,
    overrides: list[str] | None = None,
    config_file: str | None = None,
    quiet: bool = False,
) -> Path:
    """Generate ground-truth-world logs and prepare them as a dataset in ``out``.

    ``out`` is the prepared dataset (events with splits, id maps, metadata.json) with the
    world's hidden ``ground_truth/`` folder carried through for evaluation, plus
    ``ground_truth/world_report.json`` (the world's difficulty statistics). Returns ``out``.
    """
    from envs.ground_truth_world import (
        WorldConfig,
        difficulty_report,
        generate_logs,
        save_world_logs,
        world_config,
    )
    from mtrec_ray.config import from_dict, merge_overrides, read_yaml, to_dict
    from mtrec_ray.data.dataset import ingest

    base = to_dict(world_config(preset))
    if config_file:
        base.update(read_yaml(config_file))
    sizes = {"n_users": users, "n_items": items, "horizon_days": days}
    base.update({k: v for k, v in sizes.items() if v is not None})
    cfg = from_dict(WorldConfig, merge_overrides(base, overrides))
    with progress_bar(f"generating world '{preset}'", enabled=not quiet) as bar:
        wl = generate_logs(cfg, seed=seed, progress=bar)
    with tempfile.TemporaryDirectory(prefix="mtrec_world_") as raw:
        save_world_logs(wl, raw)
        ds = ingest("world", raw, out, overwrite=True)
    report = {"preset": preset, "seed": seed, **difficulty_report(wl)}
    (out / WORLD_REPORT).write_text(json.dumps(report, indent=2, default=float))
    if not quiet:
        c = ds.metadata["counts"]
        console_print(
            f"[green]world '{preset}'[/]: {c['users']} users, {c['items']} items, "
            f"{c['events']} exposures, {c['sessions']} sessions -> {out}"
        )
    return out


@command("generate", "Generate ground-truth-world logs (the embedded default data set).", _generate_args)
def cmd_generate(args: argparse.Namespace) -> int:
    with output_dir(args.out) as out:
        generate_world_dataset(
            preset=args.preset,
            out=out,
            seed=args.seed,
            users=20 if args.smoke and args.users is None else args.users,
            items=60 if args.smoke and args.items is None else args.items,
            days=args.days,
            overrides=args.set,
            config_file=args.config,
        )
        _print_json(json.loads((out / WORLD_REPORT).read_text()))
    return 0


def _ingest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        required=True,
        help="log format: movielens (100K u.data, 1M/10M ratings.dat, 20M/25M ratings.csv), "
        "kuairand, csv, parquet, world (a directory written by `mtrec generate`)",
    )
    p.add_argument("--path", required=True, help="input file or directory (or URI)")
    p.add_argument(
        "--mapping",
        metavar="FILE",
        help="YAML column mapping for csv/parquet/kuairand (keys: user, item, timestamp, "
        "session, slate, position, click, watch_time, watch_ratio, duration, labels, "
        "delimiter, timestamp_format, ...)",
    )
    p.add_argument(
        "--map",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="one column-mapping entry (repeatable), e.g. --map user=uid --map item=vid; "
        "overrides --mapping",
    )
    p.add_argument(
        "--on-bad-rows",
        choices=["error", "drop"],
        default="error",
        help="error: stop at the first bad row, naming file, row and column; drop: drop "
        "bad rows, counted by reason (printed and saved in metadata.json)",
    )
    p.add_argument("--dedupe", action="store_true", help="drop repeated (user, item, timestamp) events")
    p.add_argument(
        "--session-gap",
        type=float,
        default=None,
        help="inactivity gap in seconds that starts a new session (default: 1800), "
        "used when the source has no session ids",
    )
    _common(p, out_default=None)


@command("ingest", "Load, validate, sessionise and split a log into a prepared dataset.", _ingest_args)
def cmd_ingest(args: argparse.Namespace) -> int:
    from mtrec_ray.data.dataset import ingest
    from mtrec_ray.data.mapping import ColumnMapping

    mapping = None
    if args.mapping or args.map:
        mapping = ColumnMapping.load(args.mapping, args.map) if args.mapping else ColumnMapping.from_pairs(args.map)
    kwargs = {} if args.session_gap is None else {"session_gap": args.session_gap}
    src = local_input(args.path)
    with output_dir(args.out) as out:
        ds = ingest(
            args.format,
            src,
            out,
            mapping=mapping,
            on_bad_rows=args.on_bad_rows,
            dedupe=args.dedupe,
            overwrite=True,
            **kwargs,
        )
        rows = ds.metadata.get("rows", {})
        dropped = rows.get("dropped_by_reason") or {}
        if dropped:
            console_print(f"[yellow]dropped rows by reason[/]: {dropped}")
        c = ds.metadata["counts"]
        console_print(
            f"[green]ingested[/] {c['events']} events, {c['users']} users, {c['items']} items, "
            f"{c['sessions']} sessions -> {args.out}"
        )
        _print_json({"counts": c, "rows": rows})
    return 0


def _inspect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="a prepared dataset directory (or URI)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON only")


@command("inspect", "Summarise a prepared dataset: users, items, events, sessions, CTR, distributions.", _inspect_args)
def cmd_inspect(args: argparse.Namespace) -> int:
    from mtrec_ray.data.dataset import load_dataset, summarize

    ds = load_dataset(local_input(args.dataset))
    summary = summarize(ds)
    if not args.json:
        _print_table(summary)
    _print_json(summary)
    return 0


def _print_table(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="dataset summary", show_header=True)
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
        table.add_row(str(key), _fmt(value))
    Console(stderr=True).print(table)


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)

"""The ``mtrec`` command line.

Every subcommand shares ``--config``, ``--set``, ``--address``, ``--out``, ``--seed`` and
``--smoke``; heavy imports (torch, ray) happen inside the command that needs them, so
``mtrec --help`` is instant.

How to run::

    mtrec generate --preset default --users 2000 --out runs/world
    mtrec inspect runs/world
    mtrec ingest --format movielens --path ~/data/ml-100k --out runs/ml100k
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mtrec_ray.errors import MtrecError
from mtrec_ray.progress import console_print

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


def command(name: str, help_text: str, add_args: Callable[[argparse.ArgumentParser], None]):
    """Register a subcommand: its help, its own arguments and its handler."""

    def wrap(fn: Handler) -> Handler:
        _COMMANDS[name] = (help_text, add_args, fn)
        return fn

    return wrap


def _common(parser: argparse.ArgumentParser, *, out_default: str | None) -> None:
    g = parser.add_argument_group("common options")
    g.add_argument("--config", metavar="FILE", help="YAML config; its keys override the defaults")
    g.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override one config key (repeatable), e.g. --set irl.lr=1e-3; "
        "precedence: defaults < --config file < --set",
    )
    g.add_argument(
        "--address",
        default=None,
        help="Ray address: omit to start a local Ray, 'auto' inside a cluster, or ray://HOST:PORT",
    )
    g.add_argument(
        "--out",
        default=out_default,
        required=out_default is None,
        help="output directory or URI (s3://, gs://, shared file system)"
        + (f" (default: {out_default})" if out_default else ""),
    )
    g.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    g.add_argument("--smoke", action="store_true", help="tiny sizes, 1-2 iterations (for tests)")


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=_json_default))


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The full ``mtrec`` argument parser."""
    # Import command modules so they register themselves.
    import mtrec_ray.commands  # noqa: F401  (registers the subcommands)

    parser = argparse.ArgumentParser(
        prog="mtrec",
        description="Learn users' hidden mental reward from implicit feedback, on Ray.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from mtrec_ray import __version__

    parser.add_argument("--version", action="version", version=f"mtrec-ray {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (help_text, add_args, fn) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(_handler=fn)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mtrec`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._handler(args) or 0)
    except MtrecError as exc:
        console_print(f"[bold red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        console_print("interrupted")
        return 130

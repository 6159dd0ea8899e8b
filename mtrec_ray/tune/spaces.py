"""Search spaces in YAML, translated to Ray Tune by one function.

The convention (one key per distribution)::

    lr:            {loguniform: [1.0e-4, 1.0e-2]}   # log-uniform on [low, high]
    gamma:         {uniform: [0.5, 0.95]}           # uniform on [low, high]
    batch_size:    {choice: [256, 512, 1024]}       # one of the listed values
    n_depth:       {randint: [4, 12]}               # integer in [low, high)
    model.encoder: {grid: [mean, gru, transformer]} # every value, crossed with samples
    kappa: 1.0                                      # a constant

Keys are dotted paths into the experiment's config dataclass (``IRLConfig`` for the
reward search: ``model.dim``, ``lr``...). ``validate_space`` refuses unknown keys and
malformed distributions with a message naming the key; ``to_tune`` turns the mapping
into Tune's nested ``param_space``.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from mtrec_ray.errors import ConfigError

DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint", "grid")


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _resolve_key(cls: type, key: str) -> Any:
    """The annotated type at dotted ``key`` of dataclass ``cls``; ConfigError if unknown."""
    node: Any = cls
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not (isinstance(node, type) and dataclasses.is_dataclass(node)):
            raise ConfigError(f"search space key '{key}': '{'.'.join(parts[:i])}' has no fields")
        hints = _field_types(node)
        if part not in hints:
            known = ", ".join(sorted(hints))
            raise ConfigError(
                f"search space key '{key}': unknown field '{part}' of {node.__name__}; known: {known}"
            )
        node = hints[part]
    if isinstance(node, type) and dataclasses.is_dataclass(node):
        raise ConfigError(f"search space key '{key}' is a section; name one of its fields")
    return node


def _number(a: Any) -> float | None:
    """A number, or a numeric string (YAML reads ``1e-3`` without a dot as a string)."""
    if isinstance(a, bool):
        return None
    if isinstance(a, (int, float)):
        return a
    if isinstance(a, str):
        try:
            return float(a)
        except ValueError:
            return None
    return None


def _check_distribution(key: str, spec: dict[str, Any]) -> None:
    if len(spec) != 1:
        raise ConfigError(
            f"search space key '{key}': a distribution is a mapping with exactly one of "
            f"{', '.join(DISTRIBUTIONS)}; got keys {sorted(spec)}"
        )
    (kind, args), = spec.items()
    if kind not in DISTRIBUTIONS:
        raise ConfigError(
            f"search space key '{key}': unknown distribution '{kind}'; use one of "
            f"{', '.join(DISTRIBUTIONS)}"
        )
    if not isinstance(args, list) or not args:
        raise ConfigError(f"search space key '{key}': {kind} takes a non-empty list, got {args!r}")
    if kind in ("uniform", "loguniform", "randint"):
        nums = [_number(a) for a in args]
        if len(args) != 2 or any(n is None for n in nums):
            raise ConfigError(f"search space key '{key}': {kind} takes [low, high] numbers, got {args!r}")
        low, high = nums
        if not low < high:
            raise ConfigError(f"search space key '{key}': {kind} needs low < high, got {args!r}")
        if kind == "loguniform" and low <= 0:
            raise ConfigError(f"search space key '{key}': loguniform needs low > 0, got {low}")
        if kind == "randint" and not (float(low).is_integer() and float(high).is_integer()):
            raise ConfigError(f"search space key '{key}': randint takes integers, got {args!r}")


def validate_space(space: dict[str, Any], config_cls: type) -> None:
    """Refuse unknown keys and malformed distributions, naming the key; check value types."""
    from mtrec_ray.config import _coerce

    if not isinstance(space, dict):
        raise ConfigError(f"search space must be a mapping of key -> distribution, got {space!r}")
    for key, spec in space.items():
        tp = _resolve_key(config_cls, str(key))
        if isinstance(spec, dict):
            _check_distribution(key, spec)
            (kind, args), = spec.items()
            values = args if kind in ("choice", "grid") else [_number(args[0])]
            if kind == "randint":
                values = [int(float(args[0]))]
        else:
            values = [spec]
        for v in values:
            _coerce(v, tp, f"search space key '{key}'")


def to_tune(space: dict[str, Any]) -> dict[str, Any]:
    """Translate a validated flat space into Tune's nested ``param_space``."""
    from ray import tune

    out: dict[str, Any] = {}
    for key, spec in space.items():
        if isinstance(spec, dict):
            (kind, args), = spec.items()
            if kind == "choice":
                value: Any = tune.choice(list(args))
            elif kind == "grid":
                value = tune.grid_search(list(args))
            elif kind == "uniform":
                value = tune.uniform(float(args[0]), float(args[1]))
            elif kind == "loguniform":
                value = tune.loguniform(float(args[0]), float(args[1]))
            else:
                value = tune.randint(int(float(args[0])), int(float(args[1])))
        else:
            value = spec
        node = out
        parts = str(key).split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (for tables and best-config export)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out

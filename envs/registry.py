"""The simulator registry: one place that maps names to user-simulator factories.

A *user simulator* is a Gymnasium environment in which the agent is the recommender and
the environment is the user: the agent shows an item (or a slate), the user responds.
Three routes plug a simulator in, and every one ends in the same registry:

1. ``envs.register("myorg/MySim-v0", MySim)`` in Python (a class, a function, or a
   ``"module.path:Factory"`` string that is imported only when first made);
2. a ``"module.path:Factory"`` string wherever a simulator name is expected (configs,
   ``make``), with no registration at all;
3. an entry point in the group ``mtrec_ray.simulators`` of an installed distribution::

       # pyproject.toml of a third-party package
       [project.entry-points."mtrec_ray.simulators"]
       "myorg/MySim-v0" = "mysim.env:MySim"

   discovered the first time a name is looked up and not found.

The protocol a simulator must follow (checked when it is made; a simulator that breaks
it is refused with a message naming what is missing):

- it is a ``gymnasium.Env``: ``observation_space`` a fixed-shape ``Box``,
  ``action_space`` ``Discrete(n_items)`` (one item) or ``MultiDiscrete([n_items] * K)``
  (a slate of K items); ``reset(seed=..., options=...)`` returns ``(obs, info)`` and
  ``step(action)`` returns ``(obs, reward, terminated, truncated, info)``;
- ``n_items`` (int): the catalogue size, item ids are ``0..n_items-1``;
- ``info["response"]`` after every ``step`` is a mapping with at least the fields
  ``RESPONSE_FIELDS``: ``click`` (0/1), ``clicked_item`` (item id or -1),
  ``watch_ratio`` (float >= 0), ``watch_time`` (seconds) and ``leave`` (bool: the user
  ended the session); ``satisfaction`` (the hidden true reward) is optional and only a
  ground-truth simulator sets ``has_true_satisfaction = True`` and fills it;
- ``terminated`` is true when the user leaves, ``truncated`` at the maximum session
  length; all randomness comes from ``self.np_random`` so ``reset(seed=s)`` reproduces an
  episode exactly.

Optional: ``history_observer`` (an object with ``observe(histories) -> obs`` that maps
recommender-side interaction histories to this simulator's observations; lets an RLlib
policy trained here act as a ``Recommender`` elsewhere) and a batched vector factory
(``register(..., vector_factory=...)``) used by ``make_vec`` instead of
``gymnasium.vector.SyncVectorEnv``.

This module never imports Ray; ``mtrec_ray.rl`` exposes the same names to RLlib.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from mtrec_ray.errors import ConfigError

ENTRY_POINT_GROUP = "mtrec_ray.simulators"
"""Entry-point group third-party packages use to ship simulators."""

RESPONSE_FIELDS: tuple[str, ...] = ("click", "clicked_item", "watch_ratio", "watch_time", "leave")
"""Fields every simulator's ``info["response"]`` must carry after ``step``."""

OPTIONAL_RESPONSE_FIELDS: tuple[str, ...] = ("satisfaction", "position")
"""Fields a simulator may add (``satisfaction`` only when it knows the true reward)."""

Factory = Callable[..., gym.Env]


class SimulatorError(ConfigError):
    """A simulator name is unknown or taken, or a simulator breaks the protocol."""


@dataclass(frozen=True)
class SimulatorSpec:
    """A registered simulator: its name, how to build one env, and optionally a batch."""

    name: str
    """Registry name, e.g. ``mtrec/UserSession-v0``."""
    factory: Factory | str
    """Callable (class or function) taking keyword arguments, or a ``module:attr`` string."""
    vector_factory: Callable[..., gym.vector.VectorEnv] | str | None = None
    """Optional batched implementation called as ``vector_factory(num_envs=B, **kwargs)``."""
    description: str = ""
    """One line shown by ``describe()``."""
    source: str = "python"
    """How it was registered: ``python``, ``builtin`` or ``entry-point:<dist>``."""

    def load_factory(self) -> Factory:
        """Return the factory callable, importing a ``module:attr`` string if needed."""
        return resolve(self.factory) if isinstance(self.factory, str) else self.factory

    def load_vector_factory(self) -> Callable[..., gym.vector.VectorEnv] | None:
        """Return the vector factory callable (or None when there is none)."""
        if self.vector_factory is None:
            return None
        if isinstance(self.vector_factory, str):
            return resolve(self.vector_factory)
        return self.vector_factory


_REGISTRY: dict[str, SimulatorSpec] = {}
_ENTRY_POINTS_LOADED = False


def resolve(path: str) -> Any:
    """Import ``"module.path:attr"`` (attr may be dotted) and return the object.

    Raises:
        SimulatorError: malformed string, missing module, or missing attribute.
    """
    if ":" not in path:
        raise SimulatorError(
            f"{path!r} is not a 'module.path:Factory' string (expected exactly one ':')"
        )
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise SimulatorError(f"{path!r}: both the module and the attribute must be named")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise SimulatorError(f"cannot import module {module_name!r} for {path!r}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SimulatorError(f"module {module_name!r} has no attribute {attr!r} (from {path!r})")
        obj = getattr(obj, part)
    return obj


def register(
    name: str,
    factory: Factory | str,
    *,
    vector_factory: Callable[..., gym.vector.VectorEnv] | str | None = None,
    description: str = "",
    overwrite: bool = False,
    source: str = "python",
) -> SimulatorSpec:
    """Register a simulator under ``name``.

    Args:
        name: Registry name; by convention ``namespace/Name-vN`` (bump N when the dynamics
            or rewards change).
        factory: A class or function called with keyword arguments that returns a
            Gymnasium env following the protocol, or a ``"module:Factory"`` string
            (imported when first made).
        vector_factory: Optional batched implementation, ``vector_factory(num_envs=B,
            **kwargs)`` returning a ``gymnasium.vector.VectorEnv``.
        description: One line for listings.
        overwrite: Replace an existing registration instead of refusing it.
        source: Where the registration came from (for listings and error messages).

    Returns:
        The stored spec.

    Raises:
        SimulatorError: the name is taken (and ``overwrite`` is false), or the factory is
            neither callable nor a ``module:attr`` string, or a class factory lacks
            ``reset``/``step``.
    """
    if not isinstance(name, str) or not name.strip():
        raise SimulatorError(f"simulator name must be a non-empty string, got {name!r}")
    if name in _REGISTRY and not overwrite:
        raise SimulatorError(
            f"simulator {name!r} is already registered (source: {_REGISTRY[name].source}); "
            f"pick another name, bump its version (-vN), or pass overwrite=True. "
            f"Registered: {', '.join(sorted(_REGISTRY))}"
        )
    if isinstance(factory, str):
        if ":" not in factory:
            raise SimulatorError(
                f"factory for {name!r} must be callable or a 'module:Factory' string, "
                f"got {factory!r}"
            )
    elif not callable(factory):
        raise SimulatorError(
            f"factory for {name!r} must be callable or a 'module:Factory' string, "
            f"got {type(factory).__name__}"
        )
    elif inspect.isclass(factory):
        missing = [m for m in ("reset", "step") if not callable(getattr(factory, m, None))]
        if missing:
            raise SimulatorError(
                f"simulator {name!r} ({factory.__qualname__}) breaks the protocol: "
                f"missing method(s) {', '.join(missing)}"
            )
    spec = SimulatorSpec(
        name=name,
        factory=factory,
        vector_factory=vector_factory,
        description=description,
        source=source,
    )
    _REGISTRY[name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (a no-op when it is absent)."""
    _REGISTRY.pop(name, None)


def load_entry_points(*, group: str = ENTRY_POINT_GROUP, overwrite: bool = False) -> list[str]:
    """Register every simulator advertised in the entry-point ``group``.

    Entry points are registered lazily (their ``module:attr`` value is imported when the
    simulator is first made). A name that is already registered is skipped unless
    ``overwrite``.

    Returns:
        The names newly registered.
    """
    global _ENTRY_POINTS_LOADED
    _ENTRY_POINTS_LOADED = True
    added = []
    for ep in importlib.metadata.entry_points(group=group):
        if ep.name in _REGISTRY and not overwrite:
            continue
        dist = getattr(getattr(ep, "dist", None), "name", None) or "unknown"
        register(ep.name, ep.value, overwrite=overwrite, source=f"entry-point:{dist}")
        added.append(ep.name)
    return added


def names() -> list[str]:
    """Sorted names of every registered simulator (entry points included)."""
    if not _ENTRY_POINTS_LOADED:
        load_entry_points()
    return sorted(_REGISTRY)


def spec(name: str) -> SimulatorSpec:
    """The spec registered under ``name``; a ``module:Factory`` string gets an ad-hoc spec.

    Raises:
        SimulatorError: the name is unknown; the message lists the known names.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    if not _ENTRY_POINTS_LOADED:
        load_entry_points()
        if name in _REGISTRY:
            return _REGISTRY[name]
    if ":" in name:
        return SimulatorSpec(name=name, factory=name, source="module-path")
    raise SimulatorError(
        f"unknown simulator {name!r}; registered simulators: {', '.join(names()) or '(none)'}. "
        f"Register one with envs.register(name, factory), an entry point in the "
        f"'{ENTRY_POINT_GROUP}' group, or pass a 'module.path:Factory' string."
    )


def make(name: str, **kwargs: Any) -> gym.Env:
    """Build the simulator ``name`` (a registry name or a ``module:Factory`` string).

    The instance is checked against the protocol's static part (spaces, ``n_items``,
    methods); :func:`check_simulator` also steps it once to check the response fields.

    Raises:
        SimulatorError: unknown name, or the instance breaks the protocol.
    """
    s = spec(name)
    factory = s.load_factory()
    if not callable(factory):
        raise SimulatorError(f"simulator {name!r}: {s.factory!r} is not callable")
    env = factory(**kwargs)
    _check_static(env, name)
    return env


def make_vec(name: str, num_envs: int, **kwargs: Any) -> gym.vector.VectorEnv:
    """Build ``num_envs`` copies of simulator ``name`` as one vector env.

    Uses the simulator's batched ``vector_factory`` when it has one (next-step autoreset,
    like Gymnasium's own vector envs), otherwise a ``SyncVectorEnv`` over ``make``.
    """
    if num_envs < 1:
        raise SimulatorError(f"num_envs must be >= 1, got {num_envs}")
    s = spec(name)
    vf = s.load_vector_factory()
    if vf is not None:
        venv = vf(num_envs=num_envs, **kwargs)
        if not isinstance(venv, gym.vector.VectorEnv):
            raise SimulatorError(
                f"vector factory of {name!r} returned {type(venv).__name__}, "
                "not a gymnasium.vector.VectorEnv"
            )
        return venv
    return gym.vector.SyncVectorEnv([lambda: make(name, **kwargs) for _ in range(num_envs)])


def describe() -> list[dict[str, str]]:
    """One row per registered simulator: name, source, description, factory."""
    rows = []
    for n in names():
        s = _REGISTRY[n]
        fac = s.factory if isinstance(s.factory, str) else _qualname(s.factory)
        rows.append({"name": n, "source": s.source, "description": s.description, "factory": fac})
    return rows


def _qualname(obj: Any) -> str:
    mod = getattr(obj, "__module__", "?")
    return f"{mod}:{getattr(obj, '__qualname__', type(obj).__name__)}"


def _check_static(env: Any, name: str) -> None:
    """Refuse an instance that lacks the protocol's attributes; name everything missing."""
    problems: list[str] = []
    if not isinstance(env, gym.Env):
        problems.append(f"it is a {type(env).__name__}, not a gymnasium.Env subclass")
    for meth in ("reset", "step"):
        if not callable(getattr(env, meth, None)):
            problems.append(f"method {meth}()")
    obs_space = getattr(env, "observation_space", None)
    if obs_space is None:
        problems.append("attribute observation_space")
    elif not isinstance(obs_space, gym.spaces.Box):
        problems.append(f"observation_space must be a fixed-shape Box, got {obs_space!r}")
    act_space = getattr(env, "action_space", None)
    if act_space is None:
        problems.append("attribute action_space")
    elif not isinstance(act_space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        problems.append(f"action_space must be Discrete or MultiDiscrete, got {act_space!r}")
    n_items = getattr(env, "n_items", None)
    if n_items is None:
        problems.append("attribute n_items (catalogue size)")
    elif not isinstance(n_items, (int, np.integer)) or n_items < 1:
        problems.append(f"n_items must be a positive int, got {n_items!r}")
    if problems:
        raise SimulatorError(
            f"simulator {name!r} ({type(env).__name__}) breaks the protocol: missing or wrong "
            + "; ".join(problems)
            + ". See envs.registry's docstring for the protocol."
        )


def check_simulator(env: gym.Env, *, name: str | None = None, seed: int = 0) -> None:
    """Check an instance against the whole protocol: static part, then one reset and step.

    Raises:
        SimulatorError: naming every missing attribute or response field.
    """
    label = name or type(env).__name__
    _check_static(env, label)
    out = env.reset(seed=seed)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise SimulatorError(f"simulator {label!r}: reset() must return (obs, info)")
    obs, info = out
    if not env.observation_space.contains(np.asarray(obs, dtype=env.observation_space.dtype)):
        raise SimulatorError(f"simulator {label!r}: reset() observation is outside observation_space")
    step = env.step(env.action_space.sample())
    if not (isinstance(step, tuple) and len(step) == 5):
        raise SimulatorError(
            f"simulator {label!r}: step() must return (obs, reward, terminated, truncated, info)"
        )
    info = step[4]
    response = info.get("response") if isinstance(info, Mapping) else None
    if not isinstance(response, Mapping):
        raise SimulatorError(
            f"simulator {label!r} breaks the protocol: step() info has no 'response' mapping "
            f"(needs fields {', '.join(RESPONSE_FIELDS)})"
        )
    missing = [f for f in RESPONSE_FIELDS if f not in response]
    if missing:
        raise SimulatorError(
            f"simulator {label!r} breaks the protocol: info['response'] is missing field(s) "
            f"{', '.join(missing)}"
        )
    if getattr(env, "has_true_satisfaction", False) and "satisfaction" not in response:
        raise SimulatorError(
            f"simulator {label!r} sets has_true_satisfaction but its response has no "
            "'satisfaction' field"
        )


def register_builtins() -> None:
    """Register the simulators this package ships (idempotent)."""
    builtins = {
        "mtrec/UserSession-v0": (
            "envs.user_session:UserSessionEnv",
            "envs.vector:UserSessionVectorEnv",
            "user-session simulator fitted from logs (mtrec fit-sim)",
        ),
        "mtrec/GroundTruthWorld-v0": (
            "envs.world_env:GroundTruthWorldEnv",
            "envs.vector:GroundTruthWorldVectorEnv",
            "the synthetic ground-truth world (true satisfaction known)",
        ),
    }
    for name, (fac, vfac, desc) in builtins.items():
        if name not in _REGISTRY:
            register(name, fac, vector_factory=vfac, description=desc, source="builtin")


def register_gymnasium_ids() -> None:
    """Register the built-in simulators with Gymnasium (lazy ``module:Class`` strings).

    ``gymnasium.make("mtrec/UserSession-v0", artifact=...)`` and
    ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`` then work.
    """
    register_builtins()
    for name in ("mtrec/UserSession-v0", "mtrec/GroundTruthWorld-v0"):
        if name in gym.registry:
            continue
        s = _REGISTRY[name]
        gym.register(
            id=name,
            entry_point=s.factory if isinstance(s.factory, str) else s.factory,
            vector_entry_point=s.vector_factory,
        )


register_builtins()

"""``TuneExperimentConfig``: one ``mtrec tune`` experiment, loaded from a YAML file.

A file in ``tune_configs/`` names the data, the fixed part of every trial's
``IRLExperimentConfig`` (``base``), the search ``space`` (dotted keys into
``IRLExperimentConfig``, distributions as in ``mtrec_ray.tune.spaces``), the scheduler,
the search algorithm, the per-trial resources and a ``smoke`` section of overrides
that ``--smoke`` applies. Unknown keys are refused at every level.

Precedence, stated once: dataclass defaults < YAML < ``--set`` < ``--smoke`` section <
``--num-samples``. Inside a trial: ``IRLExperimentConfig`` defaults (or their
``as_smoke()`` sizes with ``--smoke``) < ``base`` < the sampled ``space`` values, then
``scheduler.max_t`` sets ``irl.epochs`` and ``resources`` set the learner's and the
actors' CPUs / GPUs.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mtrec_ray.config import from_dict, merge_overrides, read_yaml, to_dict
from mtrec_ray.errors import ConfigError

#: Keys that the tune file sets elsewhere; naming them in ``base`` or ``space`` is refused.
RESERVED_KEYS: dict[str, str] = {
    "irl.epochs": "the epoch budget of a trial is scheduler.max_t",
    "use_ray": "trials always run the Ray pipeline (actors + Ray Train), which reports every epoch",
    "distributed.actor_cpus": "set resources.cpu (split by resources.learner_share)",
    "distributed.scaling.cpus_per_worker": "set resources.cpu (split by resources.learner_share)",
    "distributed.scaling.use_gpu": "set resources.gpu",
    "distributed.scaling.gpus_per_worker": "set resources.gpu",
}

#: CPU reserved by a trial's own Tune actor (Tune refuses 0); part of ``resources.cpu``.
TRIAL_ACTOR_CPU = 0.01

#: Metrics every report of a trial carries (each epoch and the final evaluation).
PER_EPOCH_METRICS = ("valid_nll", "best_valid_nll")


@dataclass
class WorldDataConfig:
    """A ground-truth world generated once per experiment (``mtrec generate``)."""

    preset: str = "default"
    """World preset: default, aligned or polarising."""
    users: int = 400
    """Users in the logs."""
    items: int = 200
    """Items in the catalogue."""
    days: float = 7.0
    """Simulated days per user."""
    seed: int = 0
    """Seed of the world and its logs."""

    def dirname(self) -> str:
        """Folder name of the generated dataset (reused when it already exists)."""
        return f"world_{self.preset}_u{self.users}_i{self.items}_d{self.days:g}_s{self.seed}"


@dataclass
class TuneDataConfig:
    """The data every trial learns from."""

    dir: str = ""
    """Prepared dataset (mtrec generate / mtrec ingest), path or URI; empty: generate ``world``."""
    world: WorldDataConfig = field(default_factory=WorldDataConfig)
    """The world to generate when ``dir`` is empty (under OUT/data/)."""


@dataclass
class SchedulerConfig:
    """Trial scheduler: ASHA early stopping on the metric, or FIFO (no early stopping)."""

    type: Literal["asha", "fifo"] = "asha"
    """asha (asynchronous successive halving) or fifo."""
    max_t: int = 12
    """Epoch budget of a trial (sets irl.epochs); ASHA's time unit is the learner's epoch."""
    grace_period: int = 1
    """Epochs before ASHA may stop a trial (its first rung)."""
    reduction_factor: float = 2.0
    """ASHA keeps the best 1/reduction_factor of the trials at each rung."""
    brackets: int = 1
    """ASHA brackets."""

    def validate(self) -> None:
        """Check ranges; messages say how to fix the value."""
        if self.max_t < 1:
            raise ConfigError(f"scheduler.max_t must be >= 1 epoch, got {self.max_t}")
        if not 1 <= self.grace_period <= self.max_t:
            raise ConfigError(
                f"scheduler.grace_period must be in [1, max_t={self.max_t}], got {self.grace_period}"
            )
        if self.reduction_factor <= 1:
            raise ConfigError(f"scheduler.reduction_factor must be > 1 (try 2), got {self.reduction_factor}")
        if self.brackets < 1:
            raise ConfigError(f"scheduler.brackets must be >= 1, got {self.brackets}")


@dataclass
class SearchConfig:
    """How trial configurations are proposed."""

    algorithm: Literal["random", "optuna", "hyperopt"] = "random"
    """random (grid keys crossed with samples), optuna (pip extra mtrec-ray[optuna]) or hyperopt."""
    seed: int | None = None
    """Seed of the search; empty: the --seed value."""


@dataclass
class TrialResources:
    """What one trial reserves; trials pack onto the cluster by these numbers."""

    cpu: float = 1.0
    """CPUs of one trial: its Ray Train learner workers plus its quantile-estimation actors."""
    gpu: float = 0.0
    """GPUs of one trial's learner workers (> 0 trains them on GPU)."""
    learner_share: float = 0.5
    """Share of ``cpu`` for the learner workers; the rest is split over the actors."""

    def validate(self) -> None:
        """Check ranges; messages say how to fix the value."""
        if self.cpu <= 2 * TRIAL_ACTOR_CPU:
            raise ConfigError(f"resources.cpu must be > {2 * TRIAL_ACTOR_CPU} (try 1), got {self.cpu}")
        if self.gpu < 0:
            raise ConfigError(f"resources.gpu must be >= 0, got {self.gpu}")
        if not 0 < self.learner_share < 1:
            raise ConfigError(f"resources.learner_share must be in (0, 1) (try 0.5), got {self.learner_share}")


@dataclass
class TuneExperimentConfig:
    """One Ray Tune experiment over the mental-reward learner (``mtrec tune``)."""

    name: str = "tune"
    """Experiment name: the folder under OUT/ray_results that --resume continues."""
    data: TuneDataConfig = field(default_factory=TuneDataConfig)
    """The dataset or the world to generate."""
    base: dict[str, Any] = field(default_factory=dict)
    """Fixed IRLExperimentConfig overrides of every trial (nested: {irl: {gamma: 0.9}})."""
    space: dict[str, Any] = field(default_factory=dict)
    """Search space: dotted IRLExperimentConfig keys -> distribution or constant."""
    base_preset: Literal["default", "smoke"] = "default"
    """Trials start from IRLExperimentConfig defaults or its as_smoke() sizes (--smoke)."""
    num_samples: int = 8
    """Samples of the space (each grid point is crossed with every sample)."""
    metric: str = "valid_nll"
    """Objective reported every epoch: valid_nll (held-out behaviour NLL) or best_valid_nll."""
    mode: Literal["min", "max"] = "min"
    """Minimise or maximise the metric."""
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    """ASHA settings."""
    search: SearchConfig = field(default_factory=SearchConfig)
    """Search algorithm."""
    max_concurrent_trials: int = 0
    """Trials running at once; 0: as many as the cluster's CPUs (and GPUs) hold at the start
    (set it on an autoscaling cluster)."""
    resources: TrialResources = field(default_factory=TrialResources)
    """Per-trial CPUs / GPUs."""
    judge_stopped: bool = True
    """Evaluate early-stopped trials' best checkpoints in the driver, so the recovery
    Spearman (and its rank correlation with the objective) covers every trial."""
    time_budget_s: float = 0.0
    """Stop the experiment after this many seconds of tuning (0: no limit); counted over
    every --resume, so a resumed experiment whose budget is spent stops at once."""
    smoke: dict[str, Any] = field(default_factory=dict)
    """Overrides applied by --smoke (same keys as this file, e.g. data.world.users, num_samples)."""

    def validate(self) -> None:
        """Check every section, the space and the smoke variant; messages name the key."""
        from mtrec_ray.irl.experiment import IRLExperimentConfig
        from mtrec_ray.tune.spaces import validate_space

        if not self.name or "/" in self.name:
            raise ConfigError(f"name must be a non-empty folder name, got {self.name!r}")
        self.scheduler.validate()
        self.resources.validate()
        if self.num_samples < 1:
            raise ConfigError(f"num_samples must be >= 1, got {self.num_samples}")
        if self.max_concurrent_trials < 0:
            raise ConfigError("max_concurrent_trials must be >= 0 (0: as many as fit)")
        if self.time_budget_s < 0:
            raise ConfigError("time_budget_s must be >= 0 (0: no limit)")
        if self.metric not in PER_EPOCH_METRICS:
            raise ConfigError(
                f"metric must be reported every epoch: one of {', '.join(PER_EPOCH_METRICS)}; "
                f"got {self.metric!r}"
            )
        if not self.data.dir:
            from envs.ground_truth_world import world_config

            w = self.data.world
            world_config(w.preset, n_users=w.users, n_items=w.items, horizon_days=w.days)
        for key in _flat_keys(self.base):
            if key in RESERVED_KEYS:
                raise ConfigError(f"base key '{key}' is set by the tune file: {RESERVED_KEYS[key]}")
        for key in self.space:
            if key in RESERVED_KEYS:
                raise ConfigError(f"search space key '{key}' is set by the tune file: {RESERVED_KEYS[key]}")
        validate_space(self.space, IRLExperimentConfig)
        if self.search.algorithm != "random":
            grid = [k for k, v in self.space.items() if isinstance(v, dict) and "grid" in v]
            if grid:
                raise ConfigError(
                    f"search space key '{grid[0]}': grid works with search.algorithm random only; "
                    f"use choice with {self.search.algorithm}"
                )
        base = trial_base(self)
        try:
            from_dict(IRLExperimentConfig, base)
        except ConfigError as exc:
            raise ConfigError(f"base: {exc}") from None
        check_samples(self.space, base)
        if self.smoke:
            smoke_variant(self)


def _flat_keys(d: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        out += _flat_keys(v, f"{prefix}{k}.") if isinstance(v, dict) and v else [f"{prefix}{k}"]
    return out


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base`` (nested mappings merge, others replace)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def apply_smoke(raw: dict[str, Any]) -> dict[str, Any]:
    """The raw mapping with its ``smoke`` section applied (``space`` keys replace one by one)."""
    smoke = dict(raw.get("smoke") or {})
    if "smoke" in smoke:
        raise ConfigError("smoke: a smoke section cannot hold another smoke section")
    space = {**(raw.get("space") or {}), **(smoke.pop("space", None) or {})}
    out = deep_merge({k: v for k, v in raw.items() if k not in ("smoke", "space")}, smoke)
    out["space"] = space
    out["base_preset"] = "smoke"
    return out


def smoke_variant(cfg: TuneExperimentConfig) -> TuneExperimentConfig:
    """The validated ``--smoke`` variant of a loaded config."""
    try:
        return from_dict(TuneExperimentConfig, apply_smoke(to_dict(cfg)))
    except ConfigError as exc:
        raise ConfigError(f"smoke section: {exc}") from None


def load_tune_config(
    path: str | Path,
    overrides: list[str] | None = None,
    *,
    smoke: bool = False,
    num_samples: int | None = None,
) -> TuneExperimentConfig:
    """Read a tune YAML file; ``--set`` overrides, then the smoke section, then --num-samples.

    ``--set space.irl.lr='{loguniform: [1e-3, 1e-2]}'`` sets one search-space key (the
    rest of a ``space.`` override is the dotted key); other overrides nest as usual.
    """
    from mtrec_ray.config import parse_override

    overrides = list(overrides or [])
    space_sets = [o for o in overrides if o.startswith("space.")]
    raw = merge_overrides(read_yaml(path), [o for o in overrides if o not in space_sets])
    for text in space_sets:
        key, value = parse_override(text)
        raw["space"] = {**(raw.get("space") or {}), ".".join(key[1:]): value}
    if smoke:
        raw = apply_smoke(raw)
    if num_samples is not None:
        raw["num_samples"] = num_samples
    try:
        return from_dict(TuneExperimentConfig, raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def trial_base(cfg: TuneExperimentConfig) -> dict[str, Any]:
    """The fixed part of every trial's ``IRLExperimentConfig`` as a nested dict.

    Starts from the defaults (or ``as_smoke()``), applies ``base``, then sets
    ``irl.epochs = scheduler.max_t``, ``use_ray = true`` and the resources: of
    ``resources.cpu`` less the trial actor's token CPU, the learner workers share
    ``learner_share`` (and all of ``gpu``), the quantile actors the rest.
    """
    from mtrec_ray.irl.experiment import IRLExperimentConfig

    start = IRLExperimentConfig()
    if cfg.base_preset == "smoke":
        start = start.as_smoke()
    d = deep_merge(to_dict(start), cfg.base)
    d["use_ray"] = True
    d.setdefault("irl", {})["epochs"] = cfg.scheduler.max_t
    dist = d.setdefault("distributed", {})
    scaling = dist.setdefault("scaling", {})
    workers = int(scaling.get("num_workers", 1))
    shards = int(dist.get("num_shards", 2))
    r = cfg.resources
    cpu = r.cpu - TRIAL_ACTOR_CPU
    scaling["cpus_per_worker"] = round(cpu * r.learner_share / max(workers, 1), 6)
    dist["actor_cpus"] = round(cpu * (1 - r.learner_share) / max(shards, 1), 6)
    scaling["use_gpu"] = r.gpu > 0
    scaling["gpus_per_worker"] = r.gpu / max(workers, 1) if r.gpu > 0 else 1.0
    return d


def set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested dict."""
    parts = key.split(".")
    node = d
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def check_samples(space: dict[str, Any], base: dict[str, Any], *, n: int = 100, seed: int = 0) -> None:
    """Draw configurations from the space and build each one, so combinations that no
    ``IRLExperimentConfig`` accepts (a transformer whose dim is not divisible by its
    heads...) fail at load time, naming the sampled values."""
    import random

    from mtrec_ray.irl.experiment import IRLExperimentConfig

    rng = random.Random(seed)
    grid = {k: v["grid"] for k, v in space.items() if isinstance(v, dict) and "grid" in v}
    grid_points = list(itertools.product(*grid.values())) or [()]
    for i in range(n):
        values: dict[str, Any] = dict(zip(grid, grid_points[i % len(grid_points)], strict=True))
        for key, spec in space.items():
            if key in grid:
                continue
            values[key] = _draw(spec, rng)
        d = copy.deepcopy(base)
        for key, value in values.items():
            set_dotted(d, key, value)
        try:
            from_dict(IRLExperimentConfig, d)
        except ConfigError as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
            raise ConfigError(f"search space: the sample ({shown}) is invalid: {exc}") from None


def _draw(spec: Any, rng: Any) -> Any:
    import math

    if not isinstance(spec, dict):
        return spec
    (kind, args), = spec.items()
    if kind == "choice":
        return rng.choice(list(args))
    if kind == "uniform":
        return rng.uniform(float(args[0]), float(args[1]))
    if kind == "loguniform":
        return math.exp(rng.uniform(math.log(float(args[0])), math.log(float(args[1]))))
    return rng.randrange(int(float(args[0])), int(float(args[1])))

"""Train an RLlib policy (PPO, new API stack) in any registered user simulator.

The loop, top to bottom (``train_policy``):

1. start or join Ray; register the simulator with RLlib under its registry name;
2. build one simulator in the driver and check it against the plug-in protocol (so a
   broken plug-in fails here with a clear message, not inside an env runner);
3. build PPO from ``RLConfig`` (vector envs of B users per runner through
   ``gym_env_vectorize_mode="vector_entry_point"``), or restore it from the run's
   latest checkpoint when the run directory already has one (resume);
4. ``algo.train()`` until ``config.iterations``; one progress line per iteration,
   appended to ``progress.jsonl``; a checkpoint every ``checkpoint_every`` iterations
   (``algo.save_to_path``), the last ``keep_checkpoints`` kept;
5. ``run.json`` records the config, the simulator and the latest checkpoint: what
   ``PolicyRecommender.load(run_dir)`` needs to serve the policy without Ray.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtrec_ray.config import from_dict, to_dict
from mtrec_ray.errors import ArtifactError, ConfigError
from mtrec_ray.progress import console_print
from mtrec_ray.rl.config import RLConfig

RUN_FILE = "run.json"
PROGRESS_FILE = "progress.jsonl"
RUN_FORMAT_VERSION = 1


@dataclass
class TrainResult:
    """What a policy run produced."""

    run_dir: Path
    """The run directory (``run.json``, ``progress.jsonl``, ``checkpoints/``)."""
    checkpoint: Path
    """Latest checkpoint (an RLlib ``save_to_path`` directory)."""
    iterations: int
    """Iterations done in total (resumed runs count earlier ones)."""
    metrics: list[dict[str, Any]] = field(default_factory=list)
    """One row per iteration run by this call."""
    resumed_from: int = 0
    """Iterations already done when this call started."""

    @property
    def seconds_per_iteration(self) -> float:
        """Mean wall time of this call's iterations (NaN when none ran)."""
        times = [m["time_s"] for m in self.metrics]
        return sum(times) / len(times) if times else float("nan")


def env_config(config: RLConfig) -> dict[str, Any]:
    """Simulator keyword arguments RLlib passes to every env (reward included)."""
    kwargs = dict(config.env.kwargs)
    if config.env.reward and config.env.reward != "env":
        kwargs["reward"] = config.env.reward
    return kwargs


def build_ppo_config(config: RLConfig) -> Any:
    """The RLlib ``PPOConfig`` of a run (new API stack)."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    p, r = config.ppo, config.runners
    runners: dict[str, Any] = {
        "num_env_runners": r.num_env_runners,
        "num_envs_per_env_runner": r.num_envs_per_env_runner,
        "gym_env_vectorize_mode": "vector_entry_point",
        "num_cpus_per_env_runner": r.cpus_per_env_runner,
        "custom_resources_per_env_runner": dict(r.resources_per_env_runner),
    }
    if r.rollout_fragment_length:
        runners["rollout_fragment_length"] = r.rollout_fragment_length
    else:
        per_runner = max(1, r.num_env_runners) * r.num_envs_per_env_runner
        runners["rollout_fragment_length"] = max(1, -(-p.train_batch_size // per_runner))
    return (
        PPOConfig()
        .environment(env=config.env.name, env_config=env_config(config))
        .env_runners(**runners)
        .training(
            lr=p.lr,
            gamma=p.gamma,
            lambda_=p.gae_lambda,
            train_batch_size_per_learner=p.train_batch_size,
            minibatch_size=p.minibatch_size,
            num_epochs=p.num_epochs,
            entropy_coeff=p.entropy_coeff,
            clip_param=p.clip_param,
            vf_loss_coeff=p.vf_loss_coeff,
        )
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=list(p.hidden), vf_share_layers=False))
        .learners(num_learners=0)
        .debugging(seed=config.seed, log_level="ERROR")
    )


def check_run_simulator(config: RLConfig) -> dict[str, Any]:
    """Build the simulator once in the driver and check the protocol; describe it."""
    from envs.registry import check_simulator, make

    env = make(config.env.name, **env_config(config))
    try:
        check_simulator(env, name=config.env.name, seed=config.seed)
        return {
            "n_items": int(env.n_items),
            "observation_shape": list(env.observation_space.shape),
            "action_space": repr(env.action_space),
            "has_history_observer": getattr(env, "history_observer", None) is not None,
        }
    finally:
        env.close()


def _metrics(result: dict[str, Any], iteration: int, seconds: float) -> dict[str, Any]:
    er = result.get("env_runners", {}) or {}
    learner = (result.get("learners", {}) or {}).get("default_policy", {}) or {}

    def num(x: Any) -> float | None:
        try:
            return float(x)
        except (TypeError, ValueError):
            return None

    return {
        "iteration": iteration,
        "time_s": seconds,
        "episode_return_mean": num(er.get("episode_return_mean")),
        "episode_len_mean": num(er.get("episode_len_mean")),
        "env_steps_sampled": num(er.get("num_env_steps_sampled")),
        "env_steps_sampled_lifetime": num(result.get("num_env_steps_sampled_lifetime")),
        "policy_loss": num(learner.get("policy_loss")),
        "entropy": num(learner.get("entropy")),
    }


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """The ``run.json`` of a policy run.

    Raises:
        ArtifactError: missing or of another format version.
    """
    path = Path(run_dir) / RUN_FILE
    if not path.exists():
        raise ArtifactError(f"{run_dir} is not a policy run (no {RUN_FILE}); train one with `mtrec rl`")
    meta = json.loads(path.read_text())
    if meta.get("format_version") != RUN_FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: run format version {meta.get('format_version')!r}, this code reads "
            f"{RUN_FORMAT_VERSION}; retrain with `mtrec rl`"
        )
    return meta


def _write_run(run_dir: Path, config: RLConfig, sim: dict[str, Any], checkpoint: Path | None,
               iterations: int) -> None:
    meta = {
        "format_version": RUN_FORMAT_VERSION,
        "algorithm": "PPO",
        "config": to_dict(config),
        "simulator": {"name": config.env.name, "kwargs": env_config(config), **sim},
        "iterations_done": iterations,
        "checkpoint": str(checkpoint.relative_to(run_dir)) if checkpoint else None,
        "rl_module": "learner_group/learner/rl_module/default_policy",
    }
    tmp = run_dir / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
    tmp.replace(run_dir / RUN_FILE)


def train_policy(
    config: RLConfig,
    *,
    out_dir: str | Path,
    address: str | None = None,
    resume: bool = True,
    quiet: bool = False,
) -> TrainResult:
    """Train (or resume) a PPO policy in a registered simulator.

    Args:
        config: The run's configuration (``RLConfig.smoke()`` for a tiny run).
        out_dir: Run directory; a directory holding an earlier run of the same
            simulator is resumed from its latest checkpoint when ``resume``.
        address: Ray address (None: start or reuse a local Ray).
        resume: Continue an existing run in ``out_dir`` (False: refuse to overwrite it).
        quiet: No progress lines.

    Returns:
        The run's directory, latest checkpoint and per-iteration metrics.

    Raises:
        ConfigError: unknown simulator, broken plug-in, or an existing run in
            ``out_dir`` with ``resume=False`` or with another simulator.
    """
    import torch

    from mtrec_ray.ray_utils import init_ray
    from mtrec_ray.rl.envs import register_rllib_env

    config.validate()
    torch.set_num_threads(1)
    run_dir = Path(out_dir)
    ckpt_root = run_dir / "checkpoints"
    done, latest = 0, None
    if (run_dir / RUN_FILE).exists():
        if not resume:
            raise ConfigError(f"{run_dir} already holds a policy run; pass resume=True or another --out")
        prev = read_run(run_dir)
        if prev["simulator"]["name"] != config.env.name or prev["config"]["env"] != to_dict(config.env):
            raise ConfigError(
                f"{run_dir} holds a run of {prev['simulator']['name']} with other simulator "
                "settings; resume it with the same env config or use another --out"
            )
        done = int(prev["iterations_done"])
        latest = run_dir / prev["checkpoint"] if prev.get("checkpoint") else None
    run_dir.mkdir(parents=True, exist_ok=True)

    init_ray(address, quiet=quiet)
    register_rllib_env(config.env.name)
    sim = check_run_simulator(config)
    if latest is not None and latest.exists():
        from ray.rllib.algorithms.algorithm import Algorithm

        algo = Algorithm.from_checkpoint(str(latest.resolve()))
        if not quiet:
            console_print(f"mtrec rl: resumed {run_dir} at iteration {done} from {latest.name}")
    else:
        done = 0
        algo = build_ppo_config(config).build_algo()
    start_done = done
    metrics: list[dict[str, Any]] = []
    try:
        while done < config.iterations:
            t0 = time.perf_counter()
            result = algo.train()
            done += 1
            row = _metrics(result, done, time.perf_counter() - t0)
            metrics.append(row)
            with (run_dir / PROGRESS_FILE).open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            if not quiet:
                ret = row["episode_return_mean"]
                console_print(
                    f"mtrec rl: iter {done}/{config.iterations} return "
                    f"{'n/a' if ret is None else f'{ret:.3f}'} len "
                    f"{row['episode_len_mean'] or float('nan'):.1f} ({row['time_s']:.1f}s)"
                )
            if done % config.checkpoint_every == 0 or done == config.iterations:
                latest = ckpt_root / f"iter_{done:05d}"
                algo.save_to_path(str(latest.resolve()))
                _write_run(run_dir, config, sim, latest, done)
                _prune(ckpt_root, config.keep_checkpoints)
    finally:
        algo.stop()
    if latest is None:
        raise ArtifactError(f"{run_dir}: no checkpoint was written")
    return TrainResult(run_dir=run_dir, checkpoint=latest, iterations=done, metrics=metrics,
                       resumed_from=start_done)


def _prune(root: Path, keep: int) -> None:
    ckpts = sorted(p for p in root.glob("iter_*") if p.is_dir())
    for old in ckpts[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def load_rl_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RLConfig:
    """``RLConfig`` from defaults < YAML file < ``--set`` overrides."""
    from mtrec_ray.config import load_config

    return load_config(RLConfig, path, overrides)


def config_from_run(run_dir: str | Path) -> RLConfig:
    """The ``RLConfig`` a run was trained with."""
    return from_dict(RLConfig, read_run(run_dir)["config"])

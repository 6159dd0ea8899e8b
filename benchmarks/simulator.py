"""Simulator throughput: single env, batched vector env, RLlib sampling, PPO iterations.

How to run::

    python benchmarks/simulator.py [--batch 256] [--seconds 3] [--ppo-iters 3]
    python benchmarks/simulator.py --quality      # fidelity + PPO A/B (about 6 minutes)

What you should see: env steps per second of the log-fitted simulator and of the
ground-truth world, single env and vectorised at B = 256 (target: the vector env at
least 50x the single env's rate on one core), RLlib's sampling throughput next to the
raw vector-env rate measured in the same run (the overhead ratio), and seconds per PPO
iteration; the JSON goes to ``benchmarks/results/simulator.json``. With ``--quality``:
the fidelity report of a simulator fitted on the default world (3,000 users, 20% held
out) and on MovieLens-100K (when ``../shared/data/ml-100k`` exists), then PPO trained in
the fitted simulator with reward = click and = watch time (30 iterations each) and the
A/B test in the same world (1,000 users, 7 days) against random and popularity; JSON in
``benchmarks/results/simulator_quality.json``.

Every rate is measured in this process on one core (``torch.set_num_threads(1)``):
random actions drawn up front, then the timed loop. RLlib sampling uses a
``SingleAgentEnvRunner`` built in-process from the PPO config (the same env runner
class remote runners use) sampling ``B * 50`` steps with its policy. The PPO timing
builds the algorithm with one remote env runner of 64 users, 4,000 steps per
iteration, 4 epochs of minibatch 500, and averages iterations after the first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).resolve().parent / "results" / "simulator.json"


def _rate_single(env: Any, seconds: float, seed: int = 0) -> float:
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, env.n_items, size=200_000)
    n, t0 = 0, time.perf_counter()
    while True:
        for _ in range(500):
            _, _, term, trunc, _ = env.step(int(actions[n % actions.size]))
            n += 1
            if term or trunc:
                env.reset()
        if time.perf_counter() - t0 > seconds:
            return n / (time.perf_counter() - t0)


def _rate_vector(venv: Any, seconds: float, seed: int = 0) -> float:
    venv.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, venv.n_items, size=(64, venv.num_envs))
    n, t0 = 0, time.perf_counter()
    while True:
        for i in range(20):
            venv.step(actions[i % 64])
            n += venv.num_envs
        if time.perf_counter() - t0 > seconds:
            return n / (time.perf_counter() - t0)


def _rllib_sampling(sim_dir: str, batch: int, seconds: float) -> dict[str, float]:
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    from envs.vector import UserSessionVectorEnv
    from mtrec_ray.config import from_dict
    from mtrec_ray.rl.config import RLConfig
    from mtrec_ray.rl.envs import register_rllib_env
    from mtrec_ray.rl.train import build_ppo_config

    cfg = from_dict(RLConfig, {"env": {"name": "mtrec/UserSession-v0", "kwargs": {"artifact": sim_dir}},
                               "runners": {"num_env_runners": 0, "num_envs_per_env_runner": batch}})
    register_rllib_env(cfg.env.name)
    runner = SingleAgentEnvRunner(config=build_ppo_config(cfg))
    steps = batch * 50
    runner.sample(num_timesteps=batch * 5)  # warm-up
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        episodes = runner.sample(num_timesteps=steps)
        n += sum(len(e) for e in episodes)
    rllib_rate = n / (time.perf_counter() - t0)
    runner.stop()
    raw = _rate_vector(UserSessionVectorEnv(num_envs=batch, artifact=sim_dir), seconds)
    return {"batch": batch, "rllib_steps_per_s": rllib_rate, "raw_vector_steps_per_s": raw,
            "rllib_over_raw": rllib_rate / raw}


def _ppo_seconds(sim_dir: str, iters: int) -> dict[str, Any]:
    from mtrec_ray.config import from_dict
    from mtrec_ray.ray_utils import init_ray
    from mtrec_ray.rl.config import RLConfig
    from mtrec_ray.rl.envs import register_rllib_env
    from mtrec_ray.rl.train import build_ppo_config

    cfg = from_dict(RLConfig, {"env": {"name": "mtrec/UserSession-v0", "kwargs": {"artifact": sim_dir}},
                               "runners": {"num_env_runners": 1, "num_envs_per_env_runner": 64}})
    init_ray(None, num_cpus=2, quiet=True)
    register_rllib_env(cfg.env.name)
    t0 = time.perf_counter()
    algo = build_ppo_config(cfg).build_algo()
    build_s = time.perf_counter() - t0
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        algo.train()
        times.append(time.perf_counter() - t0)
    algo.stop()
    later = times[1:] or times
    return {"build_s": build_s, "iteration_s": times, "seconds_per_iteration": float(np.mean(later)),
            "train_batch_size": cfg.ppo.train_batch_size, "num_epochs": cfg.ppo.num_epochs,
            "minibatch_size": cfg.ppo.minibatch_size, "env_runners": 1, "envs_per_runner": 64}


def quality(out: Path) -> dict[str, Any]:
    """Fidelity (world, MovieLens-100K) and the PPO-vs-baselines A/B; saves the JSON."""
    from envs.ground_truth_world import generate_logs, save_world_logs, world_config
    from envs.user_session import SimulatorFitConfig, fit_simulator
    from mtrec_ray.config import from_dict
    from mtrec_ray.eval.ab import ABConfig, run_ab
    from mtrec_ray.eval.fidelity import fidelity_report
    from mtrec_ray.rl.config import RLConfig
    from mtrec_ray.rl.train import train_policy

    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        world = save_world_logs(generate_logs(world_config("default"), seed=0), root / "world")
        t0 = time.perf_counter()
        sim = fit_simulator(world, root / "sim", SimulatorFitConfig(holdout_fraction=0.2))
        res["fit_seconds"] = time.perf_counter() - t0
        res["fidelity_world"] = fidelity_report(sim, world)
        ml = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"
        if (ml / "u.data").exists():
            from mtrec_ray.data.dataset import ingest

            ingest("movielens", ml, root / "ml")
            mlsim = fit_simulator(root / "ml", root / "mlsim", SimulatorFitConfig(holdout_fraction=0.2))
            res["fidelity_ml100k"] = fidelity_report(mlsim, root / "ml")
        arms = ["random", "popularity"]
        res["ppo"] = {}
        for reward in ("click", "watch_time"):
            cfg = from_dict(RLConfig, {
                "env": {"name": "mtrec/UserSession-v0", "kwargs": {"artifact": str(sim)}, "reward": reward},
                "ppo": {"lr": 1e-3, "entropy_coeff": 0.0, "gamma": 0.9},
                "runners": {"num_env_runners": 1, "num_envs_per_env_runner": 64},
                "iterations": 30, "checkpoint_every": 30})
            run = train_policy(cfg, out_dir=root / f"ppo_{reward}", quiet=True)
            res["ppo"][reward] = {"seconds_per_iteration": run.seconds_per_iteration,
                                  "first": run.metrics[0], "last": run.metrics[-1]}
            arms.append(f"policy:{run.run_dir}")
        rep = run_ab(arms, ABConfig(world_dir=str(world), n_users=1000, horizon_days=7.0), quiet=True)
        rename = {f"policy:{root / 'ppo_click'}": "ppo_click", f"policy:{root / 'ppo_watch_time'}": "ppo_watch_time"}
        rep["arms"] = {rename.get(k, k): v for k, v in rep["arms"].items()}
        res["ab"] = rep
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, default=float))
    for arm, r in res["ab"]["arms"].items():
        print(f"{arm}: viewing {r['viewing_time']['mean']:.1f} min/user "
              f"(lift {r['viewing_time'].get('lift') or 0:+.0%}), satisfaction {r['satisfaction']['mean']:.2f}, "
              f"CTR {r['ctr']['mean']:.3f}, session {r['session_length']['mean']:.1f}")
    print(f"saved {out}")
    return res


def main() -> dict[str, Any]:
    """Run every measurement; print and save the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--ppo-iters", type=int, default=3)
    parser.add_argument("--quality", action="store_true", help="fidelity and PPO A/B instead")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    if args.quality:
        return quality(Path(args.out or RESULTS.with_name("simulator_quality.json")))
    from envs.ground_truth_world import generate_logs, save_world_logs, world_config
    from envs.user_session import SimulatorFitConfig, UserSessionEnv, fit_simulator
    from envs.vector import GroundTruthWorldVectorEnv, UserSessionVectorEnv
    from envs.world_env import GroundTruthWorldEnv

    with tempfile.TemporaryDirectory() as tmp:
        world = save_world_logs(generate_logs(world_config("default", n_users=1000, horizon_days=3.0), seed=0),
                                Path(tmp) / "world")
        sim = str(fit_simulator(world, Path(tmp) / "sim", SimulatorFitConfig(epochs=3)))
        b, s = args.batch, args.seconds
        res: dict[str, Any] = {"batch": b, "machine": {"python": platform.python_version(),
                                                       "cpus": os.cpu_count(), "threads": 1}}
        for label, single, vector in (
            ("user_session", UserSessionEnv(artifact=sim), UserSessionVectorEnv(num_envs=b, artifact=sim)),
            ("ground_truth_world", GroundTruthWorldEnv(observer=sim),
             GroundTruthWorldVectorEnv(num_envs=b, observer=sim)),
        ):
            one = _rate_single(single, s)
            vec = _rate_vector(vector, s)
            res[label] = {"single_env_steps_per_s": one, "vector_env_steps_per_s": vec,
                          "vector_over_single": vec / one, "target_ratio": 50.0}
            print(f"{label}: single {one:,.0f} steps/s, vector B={b} {vec:,.0f} steps/s "
                  f"({vec / one:.0f}x, target >= 50x)", flush=True)
        res["rllib_sampling"] = _rllib_sampling(sim, b, s)
        r = res["rllib_sampling"]
        print(f"rllib sampling B={b}: {r['rllib_steps_per_s']:,.0f} steps/s vs raw "
              f"{r['raw_vector_steps_per_s']:,.0f} steps/s (ratio {r['rllib_over_raw']:.3f})", flush=True)
        res["ppo"] = _ppo_seconds(sim, args.ppo_iters)
        print(f"PPO: {res['ppo']['seconds_per_iteration']:.2f} s/iteration "
              f"(build {res['ppo']['build_s']:.1f} s)", flush=True)
    out = Path(args.out or RESULTS)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"saved {out}")
    return res


if __name__ == "__main__":
    main()

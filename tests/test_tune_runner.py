"""``mtrec tune``: tune files load and validate; quick.yaml in smoke mode runs with ASHA
stopping a trial early, resumes after an interruption, and exports a best config that
``mtrec irl`` loads unchanged and trains."""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path

import pandas as pd
import pytest
import yaml
from ray.tune import Callback

from mtrec_ray.config import load_config, to_dict
from mtrec_ray.errors import ConfigError
from mtrec_ray.tune.config import load_tune_config, trial_base

TUNE_DIR = Path(__file__).resolve().parents[1] / "tune_configs"
QUICK = TUNE_DIR / "quick.yaml"


@pytest.mark.parametrize("path", sorted(TUNE_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_tune_config_loads_and_validates(path):
    for smoke in (False, True):
        cfg = load_tune_config(path, smoke=smoke)
        assert cfg.space and cfg.metric == "valid_nll" and cfg.mode == "min"
        base = trial_base(cfg)
        assert base["irl"]["epochs"] == cfg.scheduler.max_t
        dist = base["distributed"]
        reserved = (
            dist["scaling"]["cpus_per_worker"] * dist["scaling"]["num_workers"]
            + dist["actor_cpus"] * dist["num_shards"] + 0.01
        )
        assert reserved == pytest.approx(cfg.resources.cpu)


def _write(tmp_path: Path, extra: dict) -> Path:
    data = yaml.safe_load(QUICK.read_text())
    for key, value in extra.items():
        data[key] = value
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"num_sample": 3}, "num_sample"),
        ({"space": {"irl.learning_rate": {"uniform": [0.1, 0.2]}}}, "irl.learning_rate"),
        ({"space": {"irl.epochs": {"choice": [2, 3]}}}, "scheduler.max_t"),
        ({"base": {"distributed": {"actor_cpus": 1}}}, "resources.cpu"),
        ({"scheduler": {"grace_period": 9, "max_t": 3}}, "grace_period"),
        (
            {"space": {"irl.model.encoder": "transformer", "irl.model.dim": {"choice": [16, 18]},
                       "irl.model.n_heads": 4}},
            "divisible",
        ),
        ({"search": {"algorithm": "optuna"}}, "grid works with search.algorithm random"),
        ({"smoke": {"num_samples": 0}}, "smoke section"),
    ],
)
def test_bad_tune_files_are_refused_naming_the_key(tmp_path, extra, needle):
    with pytest.raises(ConfigError) as exc:
        load_tune_config(_write(tmp_path, extra))
    assert needle in str(exc.value)


def test_missing_search_extra_names_the_pip_extra(tmp_path):
    import importlib.util

    from mtrec_ray.tune.runner import build_search

    if importlib.util.find_spec("optuna") is not None:
        pytest.skip("optuna is installed")
    cfg = load_tune_config(QUICK)
    cfg.search.algorithm = "optuna"
    with pytest.raises(ConfigError, match=r"mtrec-ray\[optuna\]"):
        build_search(cfg, 0, 2)


def test_cli_registers_tune():
    from mtrec_ray.cli import build_parser

    args = build_parser().parse_args(["tune", "--config", str(QUICK), "--num-samples", "2", "--resume"])
    assert args.num_samples == 2 and args.resume and args.out == "runs/tune"


def test_sweep_releases_placement_groups_of_dead_creators_only(ray_session):
    import time

    import ray
    from ray.util.placement_group import (
        placement_group,
        placement_group_table,
        remove_placement_group,
    )

    from mtrec_ray.tune.cleanup import orphaned_placement_groups, release_orphaned_placement_groups

    @ray.remote(num_cpus=0)
    class Maker:
        def make(self):
            pg = placement_group([{"CPU": 0.05}])
            ray.get(pg.ready())
            return pg.id.hex()

    driver_pg = placement_group([{"CPU": 0.05}])
    ray.get(driver_pg.ready())
    maker = Maker.remote()
    made = ray.get(maker.make.remote())
    assert release_orphaned_placement_groups() == 0  # its creator lives
    ray.kill(maker)  # like a Train controller dying with its stopped Tune trial
    deadline = time.monotonic() + 20
    while not orphaned_placement_groups() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert release_orphaned_placement_groups() == 1
    assert placement_group_table()[made]["state"] == "REMOVED"
    assert placement_group_table()[driver_pg.id.hex()]["state"] == "CREATED"
    remove_placement_group(driver_pg)


class InterruptOnce(Callback):
    """The first time a trial finishes, send SIGUSR1 (Tune's "stop and save" signal,
    like Ctrl-C) to this process; a marker file keeps it one-shot, since Tune pickles
    the callback with the experiment and restores it on resume."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def on_trial_complete(self, iteration, trials, trial, **info):
        if not self.marker.exists():
            self.marker.write_text(trial.trial_id)
            os.kill(os.getpid(), signal.SIGUSR1)


@pytest.mark.timeout(900)
def test_quick_smoke_asha_resume_and_best_config_trains(ray_session, tmp_path):
    from mtrec_ray.irl.experiment import IRLExperimentConfig, run_irl
    from mtrec_ray.tune.runner import run_tune

    cfg = load_tune_config(QUICK, smoke=True)
    assert cfg.num_samples == 1 and cfg.scheduler.grace_period == 1 and cfg.scheduler.max_t == 3
    out = tmp_path / "tune"
    first = run_tune(cfg, out, callbacks=[InterruptOnce(tmp_path / "interrupted")])
    assert (tmp_path / "interrupted").exists()
    assert not first["complete"] and first["expected_trials"] == 3
    assert first["completed"] + first["stopped_early"] < 3
    with pytest.raises(ConfigError, match="--resume"):
        run_tune(cfg, out)

    summary = run_tune(cfg, out, resume=True)
    assert summary["complete"], summary
    assert summary["trials"] == 3 and summary["errors"] == 0
    assert summary["stopped_early"] >= 1 and summary["completed"] >= 1
    table = pd.read_csv(out / "results.csv")
    stopped = table[table["status"] == "stopped_early"]
    assert (stopped["epochs_run"] < cfg.scheduler.max_t).all()
    assert table["spearman"].notna().all()  # stopped trials are judged from their checkpoints
    assert table.loc[table["status"] == "stopped_early", "judged_by"].str.startswith("driver").all()
    history = pd.read_csv(out / "history.csv")
    assert set(history["trial_id"]) == set(table["trial_id"])
    assert (out / "objective.png").stat().st_size > 0
    saved = json.loads((out / "summary.json").read_text())
    assert saved["objective_vs_recovery"]["all"]["n"] == 3 and saved["best"]["status"] == "completed"

    best_path = out / "best_config.yaml"
    best = load_config(IRLExperimentConfig, best_path)
    assert to_dict(best) == yaml.safe_load(best_path.read_text())  # loads unchanged
    assert best.irl.lr == saved["best"]["config"]["irl.lr"]
    best.use_ray = False  # the plain loop trains the same model, without a second Ray Train start
    metrics = run_irl(summary["data"], tmp_path / "irl", best)
    assert math.isfinite(metrics["valid_nll"]) and (tmp_path / "irl" / "model" / "weights.pt").exists()

"""cluster.yaml validates offline with Ray's own cluster-config validation."""

from __future__ import annotations

import copy

import yaml

from tests.conftest import REPO_ROOT


def _load() -> dict:
    return yaml.safe_load((REPO_ROOT / "cluster.yaml").read_text())


def test_cluster_yaml_validates_with_ray_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    cfg = _load()
    full = prepare_config(copy.deepcopy(cfg))
    validate_config(full)
    types = full["available_node_types"]
    assert full["head_node_type"] in types
    gpu = types["gpu_learner"]
    assert gpu["min_workers"] == 0 and gpu["max_workers"] >= 1
    assert types["cpu_worker"]["min_workers"] == 0
    assert full["idle_timeout_minutes"] > 0


def test_cluster_yaml_keeps_dashboard_private_and_token_auth_on():
    cfg = _load()
    head_cmds = " ".join(cfg["head_start_ray_commands"])
    worker_cmds = " ".join(cfg["worker_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_cmds
    assert "0.0.0.0" not in head_cmds
    assert "RAY_AUTH_MODE=token" in head_cmds and "RAY_AUTH_MODE=token" in worker_cmds
    text = (REPO_ROOT / "cluster.yaml").read_text().lower()
    for secret in ("aws_secret_access_key", "aws_access_key_id", "password"):
        assert secret not in text


def test_cluster_yaml_installs_the_pinned_package():
    cfg = _load()
    setup = " ".join(cfg["setup_commands"])
    assert "torch==2.13.0" in setup
    assert "pip install" in setup and "mtrec-ray" in setup

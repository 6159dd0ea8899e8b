"""``use_gpu`` fails fast on a cluster with no GPU that cannot scale to one, and waits
for GPU nodes when the autoscaler can bring them up (read from the head's ``ray up``
config, emulated here with ``cluster.yaml`` as ``ray up`` fills it in)."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from mtrec_ray.errors import ConfigError
from mtrec_ray.ray_utils import AUTOSCALING_CONFIG_ENV, autoscaler_max_resources, require_gpus
from tests.conftest import REPO_ROOT


def _bootstrap_config(tmp_path, *, gpus_per_learner: int) -> str:
    """cluster.yaml as ``ray up`` writes it to the head (resources of the instance types filled)."""
    from ray.autoscaler._private.util import prepare_config

    cfg = prepare_config(yaml.safe_load((REPO_ROOT / "cluster.yaml").read_text()))
    cfg = copy.deepcopy(cfg)
    types = cfg["available_node_types"]
    types["gpu_learner"]["resources"].update({"CPU": 8, "GPU": gpus_per_learner})
    types["cpu_worker"]["resources"].update({"CPU": 16})
    types[cfg["head_node_type"]]["resources"].setdefault("CPU", 0)
    path = tmp_path / "ray_bootstrap_config.yaml"
    path.write_text(json.dumps(cfg))  # ray up writes JSON under a .yaml name
    return str(path)


@pytest.fixture
def no_gpu_escape(monkeypatch):
    monkeypatch.delenv("MTREC_ALLOW_GPU_AUTOSCALE", raising=False)


def test_autoscaler_limits_come_from_node_types(tmp_path):
    path = _bootstrap_config(tmp_path, gpus_per_learner=1)
    full = yaml.safe_load(open(path))
    limits = autoscaler_max_resources(path)
    gpu_workers = full["available_node_types"]["gpu_learner"]["max_workers"]
    assert limits["GPU"] == gpu_workers * 1
    assert limits["learner"] == gpu_workers
    assert limits["CPU"] == gpu_workers * 8 + full["available_node_types"]["cpu_worker"]["max_workers"] * 16
    assert autoscaler_max_resources(str(tmp_path / "absent.yaml")) is None
    (tmp_path / "bad.yaml").write_text("available_node_types: [unclosed")
    with pytest.raises(ConfigError, match="bad.yaml"):
        autoscaler_max_resources(str(tmp_path / "bad.yaml"))


def test_use_gpu_waits_when_the_autoscaler_can_add_gpus(ray_session, tmp_path, monkeypatch, no_gpu_escape):
    assert ray_session.cluster_resources().get("GPU", 0) == 0
    monkeypatch.setenv(AUTOSCALING_CONFIG_ENV, _bootstrap_config(tmp_path, gpus_per_learner=1))
    require_gpus(2, what="trainer 'irl'")  # 4 g5 learners can come up: no error
    with pytest.raises(ConfigError, match="autoscaler can bring up at most 4"):
        require_gpus(8, what="trainer 'irl'")


def test_use_gpu_fails_fast_without_gpus_anywhere(ray_session, tmp_path, monkeypatch, no_gpu_escape):
    monkeypatch.setenv(AUTOSCALING_CONFIG_ENV, _bootstrap_config(tmp_path, gpus_per_learner=0))
    with pytest.raises(ConfigError, match="at most 0"):
        require_gpus(1, what="trainer 'irl'")
    monkeypatch.setenv(AUTOSCALING_CONFIG_ENV, str(tmp_path / "no_autoscaler.yaml"))
    with pytest.raises(ConfigError, match=r"asks for 1 GPU\(s\) \(use_gpu=true\) but the Ray cluster has 0\. Set use_gpu=false"):
        require_gpus(1, what="trainer 'irl'")
    monkeypatch.setenv("MTREC_ALLOW_GPU_AUTOSCALE", "1")
    require_gpus(1, what="trainer 'irl'")

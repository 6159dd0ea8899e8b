"""A real multi-node Ray on this machine runs ``mtrec irl`` submitted through the Jobs API.

A head and a second node with different custom resources come up with Ray's
multi-node test cluster (``ray.cluster_utils.Cluster``, dashboard + job server on the
head), in a child process (``two_node_cluster.py``) so that this process only talks
to the job server, as a user's laptop would. The test submits ``mtrec irl --address
auto`` with ``JobSubmissionClient`` and checks that the job succeeded, that the artifact appeared, that the quantile-estimation
actors ran on both nodes and that the job's logs show the resource summary. It shuts
down only the nodes it started.

About 40 s on a quiet 2-core machine and 100 s with four busy processes competing
for the cores, because ``conftest.py`` has the raylets start workers at normal
priority (``RAY_worker_niceness=0``; at Ray's default of nice 15 the same run under
that load did not finish in 7 minutes). On a timeout the job's logs so far are shown.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

HELPER = Path(__file__).with_name("two_node_cluster.py")


@pytest.fixture
def two_node_cluster():
    """(job server URL) of a two-node Ray that a child process starts and stops."""
    proc = subprocess.Popen([sys.executable, str(HELPER)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # one JSON line once both nodes are up
            if line.startswith('{"job_server"'):
                break
        else:
            pytest.fail(f"the cluster helper exited with {proc.wait()} before the cluster was up")
        yield json.loads(line)["job_server"]
    finally:
        proc.stdin.close()  # the helper shuts its nodes down and exits
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.mark.timeout(480)
def test_irl_job_runs_across_two_nodes(two_node_cluster, tmp_path):
    from ray.job_submission import JobStatus, JobSubmissionClient

    from mtrec_ray.commands.data import generate_world_dataset

    url = two_node_cluster
    world = generate_world_dataset(preset="default", out=tmp_path / "world", seed=0,
                                   users=80, items=80, days=2.0, quiet=True)
    out = tmp_path / "irl"
    cmd = [sys.executable, "-m", "mtrec_ray", "irl", "--data", str(world), "--out", str(out),
           "--smoke", "--address", "auto", "--set", "baselines=false",
           "--set", "distributed.num_shards=2", "--set", "irl.epochs=1"]
    client = JobSubmissionClient(url)
    job_id = None
    for _ in range(60):  # the head's job agent needs a few seconds after the node is up
        try:
            job_id = client.submit_job(
                entrypoint=" ".join(shlex.quote(c) for c in cmd),
                runtime_env={"env_vars": {"RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1"}},
            )
            break
        except RuntimeError as exc:
            if "No available agent" not in str(exc):
                raise
            time.sleep(1)
    assert job_id is not None, "the job server never accepted the job"
    deadline = time.monotonic() + 360
    status = client.get_job_status(job_id)
    while status not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
        if time.monotonic() > deadline:
            client.stop_job(job_id)
            pytest.fail(f"job still {status} after 6 min; logs so far:\n"
                        f"{client.get_job_logs(job_id)[-3000:]}")
        time.sleep(2)
        status = client.get_job_status(job_id)
    logs = client.get_job_logs(job_id)
    assert status == JobStatus.SUCCEEDED, logs[-3000:]
    assert "Ray resources: nodes=2" in logs
    assert (out / "model" / "weights.pt").exists()
    assert (out / "metrics.json").exists()
    history = json.loads((out / "history.json").read_text())
    nodes = set()
    for h in history:
        nodes.update(n for n in str(h["actor_nodes"]).split(",") if n)
    assert len(nodes) == 2, f"actors ran on {nodes}"

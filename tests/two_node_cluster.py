"""A two-node Ray on this machine for the Jobs API test and the cluster benchmark.

Run as a script, it starts a head (``head_node`` resource, dashboard and job server)
and a worker node (``worker_node`` resource), two CPUs each, prints one JSON line
``{"job_server": URL}`` once both nodes are up, and shuts down only the nodes it
started when its standard input closes or it is terminated. It runs as a child process
so that the caller never connects to this cluster (``ray.cluster_utils.Cluster``
rebinds and then resets process-global Ray state, which would cut a test session's own
Ray off from it): :func:`two_node_cluster` starts and stops it, :func:`submit_and_wait`
runs a command on it through the Jobs API, as a user's laptop would.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

JOB_ENV_VARS = {"RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def two_node_cluster(env: dict[str, str] | None = None) -> Iterator[str]:
    """Start the cluster in a child process (extra ``env`` for its raylets); yield its job server URL."""
    proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})
    try:
        for line in proc.stdout:  # one JSON line once both nodes are up
            if line.startswith('{"job_server"'):
                break
        else:
            raise RuntimeError(f"the cluster helper exited with {proc.wait()} before the cluster was up")
        yield json.loads(line)["job_server"]
    finally:
        proc.stdin.close()  # the helper shuts its nodes down and exits
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=30)


@dataclass
class JobOutcome:
    """How a submitted job ended."""

    status: str
    seconds: float
    """From submission to the final status (or to ``timeout``)."""
    logs: str
    timed_out: bool


def submit_and_wait(url: str, command: Sequence[str], *, timeout: float) -> JobOutcome:
    """Submit ``command`` to the job server at ``url`` and wait for it to end.

    Retries while the head's job agent is still starting; stops the job and returns
    ``timed_out=True`` when it runs past ``timeout`` seconds.
    """
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(url)
    entrypoint = " ".join(shlex.quote(c) for c in command)
    job_id = None
    for _ in range(60):  # the head's job agent needs a few seconds after the node is up
        try:
            t0 = time.monotonic()
            job_id = client.submit_job(entrypoint=entrypoint, runtime_env={"env_vars": JOB_ENV_VARS})
            break
        except RuntimeError as exc:
            if "No available agent" not in str(exc):
                raise
            time.sleep(1)
    if job_id is None:
        raise RuntimeError("the job server never accepted the job")
    status = client.get_job_status(job_id)
    while status not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
        if time.monotonic() - t0 > timeout:
            logs = client.get_job_logs(job_id)
            client.stop_job(job_id)
            return JobOutcome(str(status), time.monotonic() - t0, logs, timed_out=True)
        time.sleep(1)
        status = client.get_job_status(job_id)
    return JobOutcome(str(status), time.monotonic() - t0, client.get_job_logs(job_id), timed_out=False)


def main() -> None:
    from ray.cluster_utils import Cluster

    port = _free_port()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 2,
            "resources": {"head_node": 1},
            "include_dashboard": True,
            "dashboard_port": port,
            # The job server forwards submissions to the head's dashboard agent, whose
            # default port (52365) belongs to any Ray already running on this machine
            # (the test session's own): the submission would hang. Give it its own.
            "dashboard_agent_listen_port": _free_port(),
        },
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        cluster.add_node(num_cpus=2, resources={"worker_node": 1})
        cluster.wait_for_nodes()
        print(json.dumps({"job_server": f"http://127.0.0.1:{port}"}), flush=True)
        sys.stdin.read()  # until the caller closes our stdin
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()

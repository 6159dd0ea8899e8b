"""Start a two-node Ray on this machine, print its job server URL, stop it at stdin EOF.

Run by ``tests/test_cluster_job.py`` as a child process, so that the test process
never connects to this cluster (``ray.cluster_utils.Cluster`` rebinds and then resets
process-global Ray state, which would cut the test session's own Ray off from it).
A head (``head_node`` resource, dashboard and job server) and a worker node
(``worker_node`` resource), two CPUs each. Prints one JSON line,
``{"job_server": URL}``, once both nodes are up; shuts down only the
nodes it started when its standard input closes or it is terminated.
"""

from __future__ import annotations

import json
import signal
import socket
import sys


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        sys.stdin.read()  # until the test closes our stdin
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()

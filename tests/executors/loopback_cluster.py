"""A Ray cluster on loopback only: a head and a second node with its own resources, as
subprocesses of this script (``ray start`` would put a multi-node cluster on the machine's
routable address, so the nodes are started the way Ray's own tests start them).

    python tests/executors/loopback_cluster.py TEMP_DIR HEAD_JSON NODE_JSON...

Prints the cluster's address on its first line once every node is up, then runs until its
stdin closes or it gets SIGTERM, and takes every Ray process it started down with it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading

# Before ray is imported: with it unset Ray replaces 127.0.0.1 with the machine's routable
# address; set to 0 it keeps every node on loopback.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
# No idle worker processes started ahead of need: on a small machine they cost seconds of CPU.
os.environ["RAY_enable_worker_prestart"] = "0"  # noqa: SIM112 - Ray spells it so
os.environ["RAY_prestart_worker_first_driver"] = "0"  # noqa: SIM112

from ray.cluster_utils import Cluster  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(temp_dir: str, head: dict, nodes: list[dict]) -> None:
    os.environ["RAY_TMPDIR"] = temp_dir  # where Ray notes the "current cluster", not /tmp/ray
    os.makedirs(os.path.join(temp_dir, "ray"), exist_ok=True)
    common = {"node_ip_address": "127.0.0.1", "include_dashboard": False,
              "temp_dir": temp_dir, "object_store_memory": 100 << 20}
    cluster = Cluster(initialize_head=True, head_node_args={
        **common, **head, "dashboard_agent_listen_port": free_port()},
                      shutdown_at_exit=True)
    for node in nodes:
        cluster.add_node(**common, **node, dashboard_agent_listen_port=free_port())
    cluster.wait_for_nodes()
    print(cluster.address, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]), [json.loads(a) for a in sys.argv[3:]])

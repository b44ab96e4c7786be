"""A Ray cluster on loopback only, for trying the Ray executor (and for cove's tests): a head
and more nodes on this machine, each with its own resources, every process on 127.0.0.1.

    python -m cove.executors.loopback_cluster --temp-dir /tmp/cove-ray --port 6380 \\
        --head '{"num_cpus": 4}' --node '{"num_cpus": 8, "resources": {"node2": 1}}'

``ray start`` cannot do this: it puts a multi-node cluster on the machine's routable address
(or refuses a second node on 127.0.0.1), so the nodes are started the way Ray's own tests start
them.  Prints the cluster's address (and writes it to ``TEMP_DIR/address``) once every node is
up, then runs until SIGTERM or Ctrl-C, and takes every Ray process it started down with it.
Node arguments are Ray's ``RayParams`` (``num_cpus``, ``memory`` in bytes, ``resources``...).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

# Before ray is imported: with it unset Ray replaces 127.0.0.1 with the machine's routable
# address; set to 0 it keeps every node on loopback.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
# No idle worker processes started ahead of need: on a small machine they cost seconds of CPU.
os.environ["RAY_enable_worker_prestart"] = "0"  # noqa: SIM112 - Ray spells it so
os.environ["RAY_prestart_worker_first_driver"] = "0"  # noqa: SIM112
# The raylet's own wait to find itself in the GCS (its side of _patient_node_lookup below):
# a loaded 2-core machine needs more than Ray's 30 s.
os.environ.setdefault("RAY_raylet_start_wait_time_s", "300")  # noqa: SIM112


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


#: How long a starting node may take to register with the head (Ray allows 30 s).
REGISTER_SECONDS = 300.0


def _patient_node_lookup(seconds: float) -> None:
    """Ray gives a starting node a fixed 30 s to register with the GCS (``ray._private.node``;
    no setting changes it in Ray 2.x), and then fails the whole start with "... or the GCS has
    become overloaded": a loaded 2-core machine needs longer.  Its wait loop asks
    ``services.get_node`` until that stops raising RuntimeError; the lookup put in its place
    keeps asking for ``seconds`` before it gives Ray that answer, so the 30 s become
    ``seconds``.  A node that really failed still fails, only later."""
    from ray._private import services

    lookup = services.get_node

    def patient(gcs_address: Any, node_id: Any) -> Any:
        deadline = time.monotonic() + seconds
        while True:
            try:
                return lookup(gcs_address, node_id)  # type: ignore[no-untyped-call]
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    services.get_node = patient


def run(temp_dir: Path, port: int, head: dict[str, Any], nodes: list[dict[str, Any]]) -> None:
    try:
        from ray.cluster_utils import Cluster
    except ImportError as exc:
        raise SystemExit("the loopback cluster needs Ray: pip install 'cove[ray]'") from exc
    _patient_node_lookup(REGISTER_SECONDS)
    temp_dir.mkdir(parents=True, exist_ok=True)
    os.environ["RAY_TMPDIR"] = str(temp_dir)  # where Ray notes its "current cluster"
    (temp_dir / "ray").mkdir(exist_ok=True)
    common = {"node_ip_address": "127.0.0.1", "include_dashboard": False,
              "temp_dir": str(temp_dir), "object_store_memory": 100 << 20}
    cluster = Cluster(initialize_head=True, shutdown_at_exit=True, head_node_args={
        **common, **({"gcs_server_port": port} if port else {}), **head,
        "dashboard_agent_listen_port": free_port()})
    try:
        for node in nodes:
            cluster.add_node(**common, **node,  # type: ignore[arg-type]
                             dashboard_agent_listen_port=free_port())
        cluster.wait_for_nodes()
        (temp_dir / "address").write_text(cluster.address + "\n")
        print(cluster.address, flush=True)
        done = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: done.set())
        done.wait()
    finally:
        (temp_dir / "address").unlink(missing_ok=True)
        cluster.shutdown()  # type: ignore[no-untyped-call]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cove.executors.loopback_cluster",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--temp-dir", type=Path, required=True,
                        help="Ray's session files (keep it short: Unix socket paths)")
    parser.add_argument("--port", type=int, default=0, help="the head's port (0: a free one)")
    parser.add_argument("--head", type=json.loads, default={"num_cpus": 2},
                        help="the head node's resources, JSON")
    parser.add_argument("--node", type=json.loads, action="append", default=[],
                        help="one more node's resources, JSON (repeatable)")
    args = parser.parse_args(argv)
    run(args.temp_dir, args.port, args.head, args.node)


if __name__ == "__main__":
    main()

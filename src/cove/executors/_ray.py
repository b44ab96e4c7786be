"""The Ray executor: each host of a job is a Ray task, each model worker a Ray actor, on
whichever node has the resources their instance type asks for.

cove stays the control plane: the task or actor runs the same routine as the local executor,
on its node.  A task posts its reports (phases, log lines) to one mailbox actor every 0.2 s and
finds stop requests there; an actor keeps its own; cove pulls them into the metadata database
while the work runs.  Tasks run on worker processes Ray keeps warm (an actor starts a process
of its own, ~1.3 s on a small machine: worth it only for work that lasts).  Stop asks the
routine to stop (SIGTERM, grace, SIGKILL, as locally) and cancels the task (kills the actor)
if it does not end.  Work whose process or node dies ends with ``HostLost`` naming the node.
All of it belongs to cove's Ray driver: when cove stops it ends too, and the next start marks
running jobs Failed (see ``TrainingJobs.recover``).

Every Ray process stays on loopback: cove connects with ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
(with it unset Ray swaps 127.0.0.1 for the machine's routable address), and refuses a cluster
at a loopback address whose nodes are elsewhere.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from cove import errors
from cove.executors._base import Event, HostLost, HostWork, Resources
from cove.executors._resources import describe_resources

T = TypeVar("T")

POLL_SECONDS = 0.2
#: After a stop, how long past the routine's own grace the actor may take before it is killed.
KILL_MARGIN = 10.0
NAMESPACE = "cove"


def _import_ray() -> Any:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as exc:
        raise errors.ServerError("the Ray executor needs Ray: pip install 'cove[ray]'") from exc
    return ray


class RayExecutor:
    name = "ray"
    shares_disk = False

    def __init__(self, address: str, stop_grace: float = 30.0) -> None:
        if not address:
            raise errors.ServerError("the Ray executor needs the cluster's address: "
                                     "cove up --executor ray --ray-address HOST:PORT")
        self.ray = _import_ray()
        self.address, self.stop_grace = address, stop_grace
        try:
            self.ray.init(address=address, namespace=NAMESPACE, logging_level="WARNING",
                          log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise errors.ServerError(f"cannot reach the Ray cluster at {address}: {exc}") from exc
        self._check_loopback()
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="cove-ray")
        self._actor_class = self.ray.remote(HostActor)
        self._task = self.ray.remote(run_host)
        # One per cove: hosts run as tasks post their reports here; it ends with cove.
        self.mailbox = self.ray.remote(Mailbox).options(
            num_cpus=0, max_concurrency=32).remote()

    def _check_loopback(self) -> None:
        if self.address.split(":")[0] not in ("127.0.0.1", "localhost"):
            return  # a real cluster on a network: its nodes are where they are
        strays = [n["NodeManagerAddress"] for n in self.ray.nodes()
                  if n["Alive"] and n["NodeManagerAddress"] != "127.0.0.1"]
        if strays:
            raise errors.ServerError(
                f"the Ray cluster at {self.address} has nodes on {', '.join(strays)}, not on "
                "loopback: start them with --node-ip-address=127.0.0.1 and "
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0")

    # --- Executor ---------------------------------------------------------------------------

    def slots(self) -> int:
        # Ray queues what does not fit; cove's own queue only bounds what it hands over.
        return max(2, int(self.ray.cluster_resources().get("CPU", 2)))

    def submit(self, routine: Callable[[], T]) -> Future[T]:
        return self._pool.submit(routine)

    def reserve(self, hosts: list[Resources]) -> RayReservation:
        return RayReservation(self, hosts)

    def start(self, work: HostWork, resources: Resources, events: Callable[[Event], None],
              reservation: Any = None, index: int = 0, lasting: bool = False) -> RayRun:
        options: dict[str, Any] = {"num_cpus": resources.cpus, "memory": resources.memory_bytes,
                                   "num_gpus": resources.gpus}
        if reservation is not None:
            options["scheduling_strategy"] = reservation.strategy(index)
        if lasting:  # a model worker: an actor, its own process for its whole life
            actor = self._actor_class.options(**options, max_concurrency=4,
                                              max_restarts=0).remote(work)
            return RayRun(self, events, actor.run.remote(), actor)
        # A job's host: a task, on a worker process Ray keeps warm between tasks (an actor
        # would start a process of its own: ~1.3 s a job on a small machine).
        run_id = uuid.uuid4().hex
        ref = self._task.options(**options, max_retries=0).remote(work, self.mailbox, run_id)
        return RayRun(self, events, ref, None, run_id)

    def infeasible(self, resources: Resources) -> str:
        """Compared with each live node's total (not free) resources: a host bigger than the
        largest node would wait in Ray's queue for ever."""
        totals = [n["Resources"] for n in self.ray.nodes() if n["Alive"]]
        if any(t.get("CPU", 0) >= resources.cpus and t.get("memory", 0) >= resources.memory_bytes
               and t.get("GPU", 0) >= resources.gpus for t in totals):
            return ""
        if not totals:
            return "the Ray cluster has no live node"
        largest = max(totals, key=lambda t: (t.get("CPU", 0), t.get("memory", 0)))
        return ("no node of the Ray cluster can ever hold it: the largest has "
                + describe_resources(Resources(float(largest.get("CPU", 0)),
                                               int(largest.get("memory", 0)),
                                               float(largest.get("GPU", 0)))))

    def describe(self) -> dict[str, Any]:
        from ray._private.state import available_resources_per_node  # no public per-node view

        available = available_resources_per_node()  # type: ignore[no-untyped-call]
        nodes = []
        for node in self.ray.nodes():
            if not node["Alive"]:
                continue
            total = node["Resources"]
            free = available.get(node["NodeID"], {}).get("CPU", 0.0)
            nodes.append({"node": node["NodeID"], "address": node["NodeManagerAddress"],
                          "cpus": total.get("CPU", 0), "free_cpus": free,
                          "memory_bytes": total.get("memory", 0),
                          "resources": sorted(k for k in total if not k.startswith(
                              ("node:", "CPU", "memory", "object_store_memory", "GPU")))})
        return {"executor": self.name, "address": self.address, "nodes": nodes}

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.ray.shutdown()


class RayReservation:
    """A placement group holding one bundle per host of a job, spread over nodes."""

    def __init__(self, executor: RayExecutor, hosts: list[Resources]) -> None:
        from ray.util.placement_group import placement_group

        self.ray = executor.ray
        self.group = placement_group(
            [{"CPU": r.cpus, "memory": r.memory_bytes, **({"GPU": r.gpus} if r.gpus else {})}
             for r in hosts], strategy="SPREAD")

    def strategy(self, index: int) -> Any:
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        return PlacementGroupSchedulingStrategy(placement_group=self.group,
                                                placement_group_bundle_index=index)

    def release(self) -> None:
        from ray.util.placement_group import remove_placement_group

        remove_placement_group(self.group)


class HostActor:
    """Runs one ``HostWork`` on its node and keeps its reports until cove pulls them."""

    def __init__(self, work: HostWork) -> None:
        import ray

        self.work = work
        self.node_id = ray.get_runtime_context().get_node_id()
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def node(self) -> str:
        return str(self.node_id)

    def run(self) -> Any:
        import ray

        self._report(("placed", (f"Ray node {self.node_id[:12]} "
                                 f"({ray.util.get_node_ip_address()})",)))  # type: ignore[no-untyped-call]
        return self.work.run(self._report)

    def stop(self, reason: str) -> None:
        self.work.stop(reason)

    def drain(self) -> list[Event]:
        with self._lock:
            events, self._events = self._events, []
        return events

    def _report(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)


class Mailbox:
    """Where hosts running as tasks post their reports and find stop requests, by run id."""

    def __init__(self) -> None:
        self._events: dict[str, list[Event]] = {}
        self._stops: dict[str, str] = {}
        self._lock = threading.Lock()

    def post(self, run_id: str, events: list[Event]) -> str:
        with self._lock:
            self._events.setdefault(run_id, []).extend(events)
            return self._stops.get(run_id, "")

    def drain(self, run_id: str) -> list[Event]:
        with self._lock:
            return self._events.pop(run_id, [])

    def request_stop(self, run_id: str, reason: str) -> None:
        with self._lock:
            self._stops.setdefault(run_id, reason)

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._events.pop(run_id, None)
            self._stops.pop(run_id, None)


def run_host(work: HostWork, mailbox: Any, run_id: str) -> Any:
    """A host as a Ray task: its reports go to the mailbox every ``POLL_SECONDS`` (the last
    ones before it returns), and a stop request found there stops it."""
    import ray

    pending: list[Event] = [("placed", (f"Ray node {ray.get_runtime_context().get_node_id()[:12]}"
                                        f" ({ray.util.get_node_ip_address()})",))]  # type: ignore[no-untyped-call]
    lock, finished, stopped = threading.Lock(), threading.Event(), threading.Event()

    def flush() -> None:
        with lock:
            batch, pending[:] = list(pending), []
        if (stop := ray.get(mailbox.post.remote(run_id, batch))) and not stopped.is_set():
            stopped.set()
            work.stop(stop)

    def flusher() -> None:
        while not finished.wait(POLL_SECONDS):
            flush()

    def report(event: Event) -> None:
        with lock:
            pending.append(event)

    flush()  # placed, and a stop that came while the task waited for room
    thread = threading.Thread(target=flusher, daemon=True)
    thread.start()
    try:
        return work.run(report)
    finally:
        finished.set()
        thread.join()
        flush()


class RayRun:
    """A host seen from cove (a task, or an actor for lasting work): a thread follows it,
    replaying its reports as they come and keeping its result (or how it was lost)."""

    def __init__(self, executor: RayExecutor, events: Callable[[Event], None], ref: Any,
                 actor: Any = None, run_id: str = "") -> None:
        self.executor, self.events, self.ref = executor, events, ref
        self.actor, self.run_id = actor, run_id
        self.ray = executor.ray
        self._where = ""
        self._outcome: Future[Any] = Future()
        threading.Thread(target=self._follow, daemon=True, name="cove-ray-follow").start()

    def result(self) -> Any:
        return self._outcome.result()

    def done(self) -> bool:
        return self._outcome.done()

    def stop(self, reason: str) -> None:
        if self.actor is not None:
            self.actor.stop.remote(reason)
        else:
            self.executor.mailbox.request_stop.remote(self.run_id, reason)
        # A host still waiting for room on the cluster, or one whose node stopped answering,
        # would never end on its own: past the grace period it is killed.
        timer = threading.Timer(self.executor.stop_grace + KILL_MARGIN, self._kill)
        timer.daemon = True
        timer.start()

    def _follow(self) -> None:
        try:
            while True:
                ready, _ = self.ray.wait([self.ref], timeout=POLL_SECONDS)
                self._pull()
                if ready:
                    self._outcome.set_result(self.ray.get(self.ref))
                    return
        except self.ray.exceptions.RayTaskError as exc:  # the routine's own exception
            self._outcome.set_exception(exc.cause or exc)
        except self.ray.exceptions.RayError as exc:  # its process or node went away
            self._outcome.set_exception(HostLost(
                self._where or "a Ray node (the host had not started)", _actor_error(exc)))
        except BaseException as exc:
            self._outcome.set_exception(exc)
        finally:
            self._end()

    def _pull(self) -> None:
        source = self.actor.drain.remote() if self.actor is not None else \
            self.executor.mailbox.drain.remote(self.run_id)
        for event in self.ray.get(source):
            if event[0] == "placed":
                self._where = event[1][0]
            self.events(event)

    def _end(self) -> None:
        if self.actor is not None:
            self.ray.kill(self.actor, no_restart=True)
        else:
            self.executor.mailbox.forget.remote(self.run_id)

    def _kill(self) -> None:
        if self._outcome.done():
            return
        if self.actor is not None:
            self.ray.kill(self.actor, no_restart=True)
        else:
            self.ray.cancel(self.ref, force=True)


def _actor_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return next((line for line in text if "died" in line or "exit" in line.lower()),
                text[0] if text else type(exc).__name__)[:300]

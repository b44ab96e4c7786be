"""What every kind of job that runs hosts shares — training jobs and processing jobs.

``HostedJobs`` is a queue of job rows: jobs wait (InProgress, not yet started) until the
executor has slots for all their hosts, start in creation order, can be stopped before or
after they start, and after a restart the ones that were running are Failed honestly.
``HostedRun`` is one job's run: it starts its hosts on the executor (all at once for a
multi-host job), enforces ``MaxRuntimeInSeconds``, buffers the hosts' log lines into one
CloudWatch stream per host, and records how the job ended.  ``HostSlots`` is the executor's
slots, shared by every queue, so training and processing jobs together never ask for more
hosts than the executor has.

A kind of job says only what differs: its Describe document's members (``stopping``,
``crashed``, ...), how its hosts are built (``build_hosts``) and how it concludes.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from cove import errors
from cove.executors import (
    Event,
    Executor,
    HostLost,
    HostRun,
    HostWork,
    Resources,
    Sandbox,
    describe_resources,
    instance_resources,
)
from cove.identity import Identity
from cove.logs import LogStore
from cove.meta import Database
from cove.sagemaker import JobStatus, RecordRows, Stored
from cove.training._data import DataPlane
from cove.training._envs import Environments
from cove.training._host import (
    HostFactory,
    HostResult,
    HostSetup,
    LocalHostWork,
    RemoteHostWork,
)
from cove.training._records import SecondaryStatus

log = logging.getLogger("cove.training")


class HostSlots:
    """The executor's slots, shared by every job queue.  A job takes slots for all its hosts
    when it starts and gives them back when it ends; then every queue looks for work."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self._busy = 0
        self._lock = threading.Lock()
        self.listeners: list[Callable[[], None]] = []

    def take(self, hosts: int) -> bool:
        """Take ``hosts`` slots if they are free (a job bigger than the executor runs alone)."""
        with self._lock:
            if self._busy + hosts > self.executor.slots() and self._busy > 0:
                return False
            self._busy += hosts
            return True

    def give_back(self, hosts: int) -> None:
        with self._lock:
            self._busy -= hosts
        for listener in list(self.listeners):
            listener()


class HostedJob(Stored, Protocol):
    """What the queue reads of a job's record (training and processing jobs have it)."""

    @property
    def name(self) -> str: ...
    @property
    def arn(self) -> str: ...
    @property
    def status(self) -> JobStatus: ...
    @property
    def role_arn(self) -> str: ...
    @property
    def host_count(self) -> int: ...
    @property
    def instance_type(self) -> str: ...
    @property
    def max_runtime(self) -> float | None: ...
    @property
    def waiting(self) -> bool:
        """InProgress, and its hosts not started yet."""


J = TypeVar("J", bound=HostedJob)


class HostedJobs(ABC, Generic[J]):
    """The records of one kind of job and the runs that change them."""

    #: How messages name the job ("training job").
    kind: str

    def __init__(self, db: Database, rows: RecordRows[J], data: DataPlane, logs: LogStore,
                 identity: Identity, executor: Executor, sandbox: Sandbox, slots: HostSlots,
                 envs: Environments, endpoint_url: str) -> None:
        self.db, self.rows, self.data, self.logs = db, rows, data, logs
        self.identity, self.executor, self.sandbox, self.slots = identity, executor, sandbox, slots
        self.envs = envs
        self.endpoint_url = endpoint_url  # the real one is known once cove listens
        self._runs: dict[str, HostedRun[J]] = {}
        self._lock = threading.Lock()
        #: Called with a job's name whenever it reaches a terminal status (tuning listens).
        self.on_finished: list[Callable[[str], None]] = []
        slots.listeners.append(self.schedule)

    # --- what a kind of job says ------------------------------------------------------------

    @abstractmethod
    def make_run(self, job: J) -> HostedRun[J]: ...

    @abstractmethod
    def stopping(self, job: J, now: float) -> J:
        """StopXxxJob was called on a running job."""

    @abstractmethod
    def stopped_before_start(self, job: J, now: float) -> J: ...

    @abstractmethod
    def crashed(self, job: J, now: float) -> J:
        """cove stopped while the job ran."""

    # --- records ----------------------------------------------------------------------------

    def insert(self, job: J) -> None:
        self.rows.insert(job)
        self.schedule()

    def get(self, name: str) -> J:
        return self.rows.get(name)

    def all(self) -> list[J]:
        return self.rows.all()

    def exists_arn(self, arn: str) -> bool:
        return self.rows.exists_arn(arn)

    def change(self, name: str, step: Callable[[J], J]) -> J:
        """Replace a job's record by ``step(record)`` in one transaction."""
        return self.rows.change(name, step)

    def host_work(self, make: HostFactory, setup: HostSetup, keep_job_dir: bool) -> HostWork:
        """One host of a job, for this executor: here with the store at hand, or shipped."""
        if self.executor.shares_disk:
            return LocalHostWork(make, setup, self.data, self.sandbox, self.envs, keep_job_dir)
        return RemoteHostWork(make, setup, self.sandbox.name, keep_job_dir)

    # --- lifecycle --------------------------------------------------------------------------

    def stop(self, name: str) -> None:
        job = self.get(name)
        if job.status is not JobStatus.IN_PROGRESS:
            raise errors.ValidationError(
                f"The request was rejected because the {self.kind} is in status "
                f"{job.status.value}.")
        with self._lock:
            run = self._runs.get(name)
        self.change(name, lambda j: self.stopping(j, time.time()))
        if run is not None:
            run.stop(SecondaryStatus.STOPPED.value)
        else:  # still queued: nothing ran, nothing to upload
            self.change(name, lambda j: self.stopped_before_start(j, time.time()))
            self._finished(name)

    def schedule(self) -> None:
        """Start queued jobs, oldest first, while the executor has free slots."""
        with self._lock:
            for job in self.rows.with_status(JobStatus.IN_PROGRESS.value):
                if job.name in self._runs or not job.waiting:
                    continue
                if not self.slots.take(job.host_count):
                    break  # start in order: a big job waits rather than being overtaken
                run = self.make_run(job)
                self._runs[job.name] = run
                run.start()

    def recover(self) -> None:
        """After a restart: runs that were under way died with cove; say so honestly."""
        jobs = self.all()
        # No job runs yet, so no job key may live: keys of runs that died with cove (or of runs
        # that ended just before their key was revoked) must not outlive them.
        self.identity.revoke_all([job.arn for job in jobs])
        for job in jobs:
            if job.status.is_finished() or job.waiting:
                continue  # ended, or never started: it will start now
            self.change(job.name, lambda j: self.crashed(j, time.time()))
        self.schedule()

    def shutdown(self) -> None:
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.stop(SecondaryStatus.STOPPED.value, shutting_down=True)

    def _finished(self, name: str) -> None:
        with self._lock:
            run = self._runs.pop(name, None)
        for listener in self.on_finished:
            listener(name)
        if run is not None:
            self.slots.give_back(run.host_count)


class HostedRun(ABC, Generic[J]):
    """The run of one job: its hosts, their log streams, its end.  ``job`` is its record as
    the run began."""

    def __init__(self, jobs: HostedJobs[J], job: J, log_group: str) -> None:
        self.jobs, self.job = jobs, job
        self.name, self.arn = job.name, job.arn
        self.log_group, self.host_count = log_group, job.host_count
        self.instance_type, self.max_runtime = job.instance_type, job.max_runtime
        self.hosts: list[HostRun] = []
        self._hosts_lock = threading.Lock()  # a stop and the start of the hosts do not cross
        self.stop_reason = ""
        self.started = time.time()
        # Lines wait here for the next flush (every 0.2 s): one transaction per flush, not one
        # per line, keeps cove's share of the CPU small while jobs run.
        self._pending: dict[str, list[tuple[int, str]]] = {}
        self._pending_points: list[dict[str, float | str | int]] = []
        self._log_lock = threading.Lock()
        # One flush at a time: the flusher thread and the job's end both flush, and two
        # overlapping writes could store an earlier batch after a later one.
        self._flush_lock = threading.Lock()
        self._done = threading.Event()
        self.shutting_down = False

    # --- what a kind of job says ------------------------------------------------------------

    @abstractmethod
    def build_hosts(self) -> list[HostWork]: ...

    @abstractmethod
    def phase(self, host: str, status: str, message: str) -> None: ...

    @abstractmethod
    def conclude(self, results: list[HostResult]) -> None:
        """Record how the job ended, from its hosts' results (the log is flushed)."""

    @abstractmethod
    def failed_inside_cove(self, reason: str) -> None: ...

    def parse(self, lines: list[str], now: float) -> list[dict[str, float | str | int]]:
        """Metric points in log lines (training jobs have them)."""
        return []

    def record(self, points: list[dict[str, float | str | int]]) -> None:
        return None

    # --- control ----------------------------------------------------------------------------

    def start(self) -> None:
        self.jobs.executor.submit(self._run)

    def stop(self, reason: str, shutting_down: bool = False) -> None:
        self.shutting_down = shutting_down
        with self._hosts_lock:
            self.stop_reason = self.stop_reason or reason
            hosts = list(self.hosts)
        for host in hosts:
            host.stop(reason)

    def log(self, host: str, lines: list[str]) -> None:
        now = time.time()
        shown = [line.replace("\t", "#011") for line in lines]
        points = self.parse(shown, now)
        with self._log_lock:
            self._pending.setdefault(host, []).extend((int(now * 1000), s) for s in shown)
            self._pending_points.extend(points)

    # --- the run ----------------------------------------------------------------------------

    def _run(self) -> None:
        flusher = threading.Thread(target=self._flush_loop, daemon=True)
        flusher.start()
        try:
            results = self._run_hosts()
            self.flush()
            self.conclude(results)
        except errors.CoveError as refused:  # e.g. no node of the cluster can ever fit a host
            self.flush()
            self.failed_inside_cove(refused.message)
        except Exception as exc:  # a bug or a broken disk: the job says so, cove goes on
            log.exception("%s %s failed inside cove", self.jobs.kind, self.name)
            self.flush()
            self.failed_inside_cove(f"InternalServerError: {type(exc).__name__}: {exc}")
        finally:
            self._done.set()
            flusher.join()
            self.flush()
            self.jobs.identity.revoke(self.arn)
            self.jobs._finished(self.name)

    def _placeable(self, hosts: int) -> Resources:
        """What each host needs; the job log and status say what it waits for, and a host no
        node can ever hold fails the job now rather than queueing for ever."""
        resources = instance_resources(self.instance_type)
        why = self.jobs.executor.infeasible(resources)
        if why:
            raise errors.ResourceLimitExceeded(
                f"CapacityError: {self.instance_type} asks for {describe_resources(resources)} "
                f"per host and {why}. Map the instance type onto your nodes with "
                f"COVE_INSTANCE_TYPES (e.g. {self.instance_type}=2:8) or start a bigger node.")
        waiting = (f"Launching requested ML instances: waiting for {hosts} {self.instance_type} "
                   f"host(s) of {describe_resources(resources)} on the "
                   f"{self.jobs.executor.name} executor")
        # On a cluster (work off cove's disk) the hosts may wait for room; locally cove's own
        # queue has already given them their slots, and the log starts with the job's own lines.
        if not self.jobs.executor.shares_disk:
            self.log("algo-1", [f"cove: {waiting}"])
        self.waiting_for(waiting)
        return resources

    def waiting_for(self, message: str) -> None:
        """Say what the job waits for (training jobs say it in their Starting transition)."""

    def _run_hosts(self) -> list[HostResult]:
        executor = self.jobs.executor
        works = self.build_hosts()
        resources = self._placeable(len(works))
        reservation = executor.reserve([resources] * len(works)) if len(works) > 1 else None
        timer = threading.Timer(self.max_runtime, self.stop,
                                (SecondaryStatus.MAX_RUNTIME_EXCEEDED.value,)) \
            if self.max_runtime else None
        if timer:
            timer.daemon = True
            timer.start()
        try:
            with self._hosts_lock:
                self.hosts = [executor.start(work, resources, self._events_of(f"algo-{i + 1}"),
                                             reservation, i) for i, work in enumerate(works)]
                if self.stop_reason:
                    for run in self.hosts:
                        run.stop(self.stop_reason)
            return [self._result(run, f"algo-{index + 1}")
                    for index, run in enumerate(self.hosts)]
        finally:
            if timer:
                timer.cancel()
            if reservation is not None:
                reservation.release()

    def _events_of(self, host: str) -> Callable[[Event], None]:
        def replay(event: Event) -> None:
            name, args = event
            if name == "phase":
                self.phase(*args)
            elif name == "log":
                self.log(*args)
            elif name == "placed":
                self.log(host, [f"{host} placed on {args[0]}"])
        return replay

    def _result(self, run: HostRun, host: str) -> HostResult:
        try:
            result: HostResult = run.result()
            return result
        except errors.ClientError as exc:  # the job's own inputs or requirements: say which
            return HostResult(host, None, f"ClientError: {exc.message}"[:1024], "")
        except HostLost as exc:
            if self.stop_reason:  # killed because it was stopped: that is a stop
                return HostResult(host, None, "", self.stop_reason)
            return HostResult(host, None, f"InternalServerError: {host} ran on {exc.node}, "
                                          f"which was lost: {exc.detail}", "")

    def access_env(self, region: str) -> dict[str, str]:
        """What the job's code needs to reach cove: its URL, region, and keys of its own."""
        creds = self.jobs.identity.issue(self.arn, self.job.role_arn, self.name)
        return {"AWS_ENDPOINT_URL": self.jobs.endpoint_url, "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region, **creds.environment()}

    # --- logs -------------------------------------------------------------------------------

    def _flush_loop(self) -> None:
        while not self._done.wait(0.2):
            self.flush()

    def flush(self) -> None:
        with self._flush_lock:
            with self._log_lock:
                pending, self._pending = self._pending, {}
                points, self._pending_points = self._pending_points, []
            self.record(points)
            for host, events in pending.items():
                if events:
                    self.jobs.logs.put_events(
                        self.log_group, f"{self.name}/{host}-{int(self.started)}", events)


def local_cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


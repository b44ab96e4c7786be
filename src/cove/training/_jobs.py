"""Training jobs: their state in the metadata database and the runs that change it.

A job is a row whose ``describe`` column is exactly what DescribeTrainingJob returns.  Jobs
queue (InProgress / Starting) until the executor has slots for their hosts, then start in
creation order.  A run reports phases, log lines and metrics as they happen; every change is a
transaction, so a restart loses nothing acknowledged.  Jobs that were running when cove stopped
are marked Failed on the next start (their processes died with cove); queued ones start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

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
from cove.meta.tables import training_jobs
from cove.sagemaker import DescribedRows
from cove.training import _metrics as metrics
from cove.training._contract import HostPlan, decode_hyperparameters
from cove.training._data import DataPlane
from cove.training._envs import Environments
from cove.training._host import (
    HostEvents,
    HostResult,
    HostSetup,
    LocalHostWork,
    RemoteHostWork,
)
from cove.training._runtimes import resolve_runtime

log = logging.getLogger("cove.training")

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TERMINAL = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class TrainingSettings:
    home: Path
    endpoint_url: str
    region: str
    stop_grace: float = 30.0
    keep_job_dirs: bool = False

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    @property
    def envs_dir(self) -> Path:
        return self.home / "envs"


class TrainingJobs:
    def __init__(self, db: Database, data: DataPlane, logs: LogStore, identity: Identity,
                 executor: Executor, sandbox: Sandbox, settings: TrainingSettings) -> None:
        self.db, self.data, self.logs, self.identity = db, data, logs, identity
        self.executor, self.sandbox, self.settings = executor, sandbox, settings
        self.rows = DescribedRows(db, training_jobs, "training job", "TrainingJob")
        settings.envs_dir.mkdir(parents=True, exist_ok=True)
        self.envs = Environments(settings.envs_dir)
        self.endpoint_url = settings.endpoint_url  # the real one is known once cove listens
        self._runs: dict[str, JobRun] = {}
        self._lock = threading.Lock()
        #: Called with a job's name whenever it reaches a terminal status (tuning listens).
        self.on_finished: list[Callable[[str], None]] = []

    # --- rows -------------------------------------------------------------------------------

    def insert(self, describe: dict[str, Any]) -> None:
        self.rows.insert(describe)
        self.schedule()

    def describe(self, name: str) -> dict[str, Any]:
        return self.rows.get(name)

    def all(self) -> list[dict[str, Any]]:
        return self.rows.all()

    def exists_arn(self, arn: str) -> bool:
        return self.rows.exists_arn(arn)

    def change(self, name: str, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``mutate`` to a job's Describe document in one transaction."""
        return self.rows.change(name, mutate)

    # --- lifecycle --------------------------------------------------------------------------

    def stop(self, name: str) -> None:
        describe = self.describe(name)
        if describe["TrainingJobStatus"] != "InProgress":
            raise errors.ValidationError(
                f"The request was rejected because the training job is in status "
                f"{describe['TrainingJobStatus']}.")
        with self._lock:
            run = self._runs.get(name)
        self.change(name, lambda d: _set_status(d, "Stopping", "Stopping",
                                                "Stopping the training job"))
        if run is not None:
            run.stop("Stopped")
        else:  # still queued: nothing ran, nothing to upload
            self.change(name, lambda d: _finish(d, "Stopped", "Stopped",
                                                "The job was stopped before it started"))
            self._finished(name)

    def schedule(self) -> None:
        """Start queued jobs, oldest first, while the executor has free slots."""
        with self._lock:
            busy = sum(run.host_count for run in self._runs.values())
            with self.db.read() as conn:
                queued = conn.execute(select(training_jobs.c.describe).where(
                    training_jobs.c.status == "InProgress").order_by(
                    training_jobs.c.creation_time)).all()
            for (describe,) in queued:
                name = describe["TrainingJobName"]
                hosts = describe["ResourceConfig"]["InstanceCount"]
                if name in self._runs or describe["SecondaryStatus"] != "Starting":
                    continue
                if busy + hosts > self.executor.slots() and busy > 0:
                    break  # start in order: a big job waits rather than being overtaken
                run = JobRun(self, describe)
                self._runs[name] = run
                busy += hosts
                run.start()

    def recover(self) -> None:
        """After a restart: runs that were under way died with cove; say so honestly."""
        for describe in self.all():
            if describe["TrainingJobStatus"] not in ("InProgress", "Stopping"):
                continue
            if describe["SecondaryStatus"] == "Starting" and describe[
                    "TrainingJobStatus"] == "InProgress":
                continue  # never started: it will start now
            self.change(describe["TrainingJobName"], lambda d: _finish(
                d, "Failed", "Failed", "cove stopped while the job was running",
                failure="InternalServerError: cove was restarted while this job was running; "
                        "its process ended with the server. Start the job again."))
        self.schedule()

    def shutdown(self) -> None:
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.stop("Stopped", shutting_down=True)

    def _finished(self, name: str) -> None:
        with self._lock:
            self._runs.pop(name, None)
        for listener in self.on_finished:
            listener(name)
        self.schedule()


class JobRun(HostEvents):
    """The run of one job: its hosts, its log streams, its metrics, its final status."""

    def __init__(self, jobs: TrainingJobs, describe: dict[str, Any]) -> None:
        self.jobs = jobs
        self.name = describe["TrainingJobName"]
        self.describe = describe
        self.host_count = int(describe["ResourceConfig"]["InstanceCount"])
        self.hosts: list[HostRun] = []
        self._hosts_lock = threading.Lock()  # a stop and the start of the hosts do not cross
        self._stop_reason = ""
        self.started = time.time()
        self.parser = metrics.MetricParser(
            describe["AlgorithmSpecification"].get("MetricDefinitions", []))
        # Lines and metric points wait here for the next flush (every 0.2 s): one transaction
        # per flush, not one per line, keeps cove's share of the CPU small while jobs run.
        self._pending: dict[str, list[tuple[int, str]]] = {}
        self._pending_metrics: list[dict[str, float | str | int]] = []
        self._log_lock = threading.Lock()
        # One flush at a time: the flusher thread and the job's end both flush, and two
        # overlapping writes could store an earlier batch after a later one (the final metric
        # value would then be an earlier one, the log out of order).
        self._flush_lock = threading.Lock()
        self._done = threading.Event()
        self._shutting_down = False

    def start(self) -> None:
        self.jobs.executor.submit(self._run)

    def stop(self, reason: str, shutting_down: bool = False) -> None:
        self._shutting_down = shutting_down
        with self._hosts_lock:
            self._stop_reason = self._stop_reason or reason
            hosts = list(self.hosts)
        for host in hosts:
            host.stop(reason)

    # --- HostEvents -------------------------------------------------------------------------

    def phase(self, host: str, status: str, message: str) -> None:
        if host != "algo-1":
            return
        def mutate(d: dict[str, Any]) -> None:
            if d["TrainingJobStatus"] == "InProgress":
                _transition(d, status, message)
            if status == "Downloading" and "TrainingStartTime" not in d:
                d["TrainingStartTime"] = time.time()
        self.jobs.change(self.name, mutate)

    def log(self, host: str, lines: list[str]) -> None:
        now = time.time()
        shown = [line.replace("\t", "#011") for line in lines]
        points = [p for line in shown for p in self.parser.parse(line, now)]
        with self._log_lock:
            self._pending.setdefault(host, []).extend((int(now * 1000), s) for s in shown)
            self._pending_metrics.extend(points)

    # --- the run ----------------------------------------------------------------------------

    def _run(self) -> None:
        flusher = threading.Thread(target=self._flush_loop, daemon=True)
        flusher.start()
        try:
            results = self._run_hosts()
            self._conclude(results)
        except errors.CoveError as refused:  # e.g. no node of the cluster can ever fit a host
            self._flush()
            reason = refused.message
            self.jobs.change(self.name, lambda d: _finish(
                d, "Failed", "Failed", "cove could not run the job", failure=reason))
        except Exception as exc:  # a bug or a broken disk: the job says so, cove goes on
            log.exception("training job %s failed inside cove", self.name)
            self._flush()
            reason = f"InternalServerError: {type(exc).__name__}: {exc}"
            self.jobs.change(self.name, lambda d: _finish(
                d, "Failed", "Failed", "cove could not run the job", failure=reason))
        finally:
            self._done.set()
            flusher.join()
            self._flush()
            self.jobs.identity.revoke(self.describe["TrainingJobArn"])
            self.jobs._finished(self.name)

    def _run_hosts(self) -> list[HostResult]:
        executor = self.jobs.executor
        works = self._build_hosts()
        resources = self._placeable(len(works))
        reservation = executor.reserve([resources] * len(works)) if len(works) > 1 else None
        limit = self.describe["StoppingCondition"].get("MaxRuntimeInSeconds")
        timer = threading.Timer(float(limit), self.stop, ("MaxRuntimeExceeded",)) \
            if limit else None
        if timer:
            timer.daemon = True
            timer.start()
        try:
            with self._hosts_lock:
                self.hosts = [executor.start(work, resources, self._events_of(f"algo-{i + 1}"),
                                             reservation, i) for i, work in enumerate(works)]
                if self._stop_reason:
                    for run in self.hosts:
                        run.stop(self._stop_reason)
            return [self._result(run, f"algo-{index + 1}")
                    for index, run in enumerate(self.hosts)]
        finally:
            if timer:
                timer.cancel()
            if reservation is not None:
                reservation.release()

    def _placeable(self, hosts: int) -> Resources:
        """What each host needs; the job log and status say what it waits for, and a host no
        node can ever hold fails the job now rather than queueing for ever."""
        instance_type = self.describe["ResourceConfig"]["InstanceType"]
        resources = instance_resources(instance_type)
        why = self.jobs.executor.infeasible(resources)
        if why:
            raise errors.ResourceLimitExceeded(
                f"CapacityError: {instance_type} asks for {describe_resources(resources)} per "
                f"host and {why}. Map the instance type onto your nodes with COVE_INSTANCE_TYPES"
                f" (e.g. {instance_type}=2:8) or start a bigger node.")
        waiting = (f"Launching requested ML instances: waiting for {hosts} {instance_type} "
                   f"host(s) of {describe_resources(resources)} on the "
                   f"{self.jobs.executor.name} executor")
        self.log("algo-1", [f"cove: {waiting}"])
        self.jobs.change(self.name, lambda d: _say_waiting(d, waiting))
        return resources

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
        except HostLost as exc:
            if self._stop_reason:  # killed because it was stopped: that is a stop
                return HostResult(host, None, "", self._stop_reason)
            return HostResult(host, None, f"InternalServerError: {host} ran on {exc.node}, "
                                          f"which was lost: {exc.detail}", "")

    def _build_hosts(self) -> list[HostWork]:
        d, settings = self.describe, self.jobs.settings
        runtime = resolve_runtime(d["AlgorithmSpecification"]["TrainingImage"],
                                  d.get("HyperParameters", {}))
        creds = self.jobs.identity.issue(d["TrainingJobArn"])
        access = {"AWS_ENDPOINT_URL": self.jobs.endpoint_url, "AWS_REGION": settings.region,
                  "AWS_DEFAULT_REGION": settings.region, "AWS_ACCESS_KEY_ID": creds.access_key_id,
                  "AWS_SECRET_ACCESS_KEY": creds.secret_access_key}
        decoded = decode_hyperparameters(d.get("HyperParameters", {}))
        spec = d["AlgorithmSpecification"]
        override = tuple(spec.get("ContainerEntrypoint", [])) + tuple(
            spec.get("ContainerArguments", []))
        names = tuple(f"algo-{i + 1}" for i in range(self.host_count))
        channels = {c["ChannelName"]: c for c in d.get("InputDataConfig", [])}
        instance_type = d["ResourceConfig"]["InstanceType"]
        local = self.jobs.executor.shares_disk
        cpus = _cpus() if local else int(instance_resources(instance_type).cpus)
        hosts: list[HostWork] = []
        for host in names:
            plan = HostPlan(self.name, host, names, d.get("HyperParameters", {}), channels,
                            instance_type, cpus, d.get("Environment", {}))
            setup = HostSetup(
                job_dir=settings.jobs_dir / self.name / host,
                output_uri=f"{d['OutputDataConfig']['S3OutputPath'].rstrip('/')}/"
                           f"{self.name}/output",
                code_uri=str(decoded.get("sagemaker_submit_directory", "")),
                entry_point=str(decoded.get("sagemaker_program", "")),
                entrypoint_override=override, hidden=(settings.home,),
                readonly=(settings.envs_dir,),
                access_env=access, stop_grace=settings.stop_grace)
            hosts.append(
                LocalHostWork(plan, runtime, setup, self.jobs.data, self.jobs.sandbox,
                              self.jobs.envs, settings.keep_job_dirs) if local else
                RemoteHostWork(plan, runtime, setup, self.jobs.sandbox.name,
                               settings.keep_job_dirs))
        return hosts

    def _conclude(self, results: list[HostResult]) -> None:
        self._flush()
        stopped = next((r.stop_reason for r in results if r.stop_reason), "")
        failed = next((r for r in results if r.failure), None)
        final = metrics.final_values(self.jobs.db, self.name)
        master = results[0]
        artifacts = master.exit_code == 0 or bool(stopped and master.exit_code is not None)
        output = self.describe["OutputDataConfig"]["S3OutputPath"].rstrip("/")

        def mutate(d: dict[str, Any]) -> None:
            d["FinalMetricDataList"] = final
            if artifacts:
                d["ModelArtifacts"] = {
                    "S3ModelArtifacts": f"{output}/{self.name}/output/model.tar.gz"}
            if stopped and not self._shutting_down:
                _finish(d, "Stopped", stopped, "Training job stopped" if stopped == "Stopped"
                        else "The job reached its MaxRuntimeInSeconds and was stopped")
            elif failed is not None or self._shutting_down:
                reason = failed.failure if failed else (
                    "InternalServerError: cove shut down while the job was running")
                _finish(d, "Failed", "Failed", "Training job failed", failure=reason)
            else:
                _finish(d, "Completed", "Completed", "Training job completed")

        self.jobs.change(self.name, mutate)

    # --- logs -------------------------------------------------------------------------------

    def _flush_loop(self) -> None:
        while not self._done.wait(0.2):
            self._flush()

    def _flush(self) -> None:
        with self._flush_lock:
            with self._log_lock:
                pending, self._pending = self._pending, {}
                points, self._pending_metrics = self._pending_metrics, []
            metrics.record(self.jobs.db, self.name, points)
            for host, events in pending.items():
                if events:
                    self.jobs.logs.put_events(
                        LOG_GROUP, f"{self.name}/{host}-{int(self.started)}", events)


# --- Describe document edits ------------------------------------------------------------------


def _say_waiting(d: dict[str, Any], message: str) -> None:
    last = d["SecondaryStatusTransitions"][-1] if d.get("SecondaryStatusTransitions") else None
    if last is not None and last["Status"] == "Starting" and "EndTime" not in last:
        last["StatusMessage"] = message

def _transition(d: dict[str, Any], status: str, message: str) -> None:
    now = time.time()
    transitions = d.setdefault("SecondaryStatusTransitions", [])
    if transitions and transitions[-1]["Status"] == status:
        return
    if transitions:
        transitions[-1]["EndTime"] = now
    transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
    d["SecondaryStatus"] = status


def _set_status(d: dict[str, Any], status: str, secondary: str, message: str) -> None:
    d["TrainingJobStatus"] = status
    _transition(d, secondary, message)


def _finish(d: dict[str, Any], status: str, secondary: str, message: str,
            failure: str = "") -> None:
    _set_status(d, status, secondary, message)
    last = d["SecondaryStatusTransitions"][-1]
    now = last["EndTime"] = last["StartTime"]  # the final status ends where it begins
    if failure:
        d["FailureReason"] = failure
    d["TrainingEndTime"] = now
    start = d.get("TrainingStartTime", now)
    d.setdefault("TrainingStartTime", start)
    d["TrainingTimeInSeconds"] = max(1, round(now - start))
    d["BillableTimeInSeconds"] = d["TrainingTimeInSeconds"] * int(
        d["ResourceConfig"]["InstanceCount"])


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


__all__ = ["LOG_GROUP", "TERMINAL", "JobRun", "TrainingJobs", "TrainingSettings"]

"""Transform jobs: their rows in the metadata database and the runs that change them.

A job is a row whose ``describe`` column is exactly what DescribeTransformJob returns; its
progress (records and objects done, and the totals once counted) sits in columns beside it,
written every half second while it runs.  A job starts when it is created, in a thread of its
own: it starts the model's workers (a hosting fleet), then drives the engine on its own event
loop.  Every change is a transaction.

A job that was running when cove stopped is marked Failed at the next start, saying how far it
got (its workers died with cove; the ``.out`` objects it wrote are complete, the rest were not
written); it is not resumed.  One that was being stopped is marked Stopped.

Its log has one stream per instance, ``<job>/instance-<n>``: the output of the instance's
workers and, in the first, cove's own lines about the job (inputs, batching, each object done).

The workers act for the model's ExecutionRoleArn with a key of their own (as an endpoint's
workers do), revoked before the job's final status is written, and at the next start for every
job (whatever a crash left behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from cove import errors
from cove.executors import Executor, Sandbox
from cove.hosting import (
    ArtifactCache,
    Fleet,
    FleetFailed,
    FleetSpec,
    Model,
    prepare_model,
    serving_python,
)
from cove.logs import LogStore
from cove.meta import Database
from cove.meta.tables import transform_jobs
from cove.sagemaker import JobStatus, RecordRows, milliseconds
from cove.training._envs import Environments
from cove.transform._engine import Engine, TransformFailed, count_records
from cove.transform._inputs import InputError, InputObject, LocalObjects
from cove.transform._job import KIND, TransformJob, dump, load
from cove.transform._plan import Plan, batch_environment, make_plan, workers_per_instance
from cove.transform._records import SplitError
from cove.transform._requests import TransformRequests
from cove.transform._workers import LocalWorkers

if TYPE_CHECKING:
    from cove.identity import Identity

log = logging.getLogger("cove.transform")

#: Who holds a transform job's worker keys: this prefix, then the job's name.
KEY_OWNER_PREFIX = "transform-workers:"
#: (owner, model) -> the environment that gives the workers their own key.
WorkerKeys = Callable[[str, Model], dict[str, str]]

LOG_GROUP = "/aws/sagemaker/TransformJobs"
TERMINAL = tuple(s.value for s in JobStatus if s.is_finished())
FLUSH_SECONDS = 0.5


@dataclass(frozen=True)
class TransformSettings:
    home: Path
    #: Workers one job may start (InstanceCount × SAGEMAKER_MODEL_SERVER_WORKERS).
    max_workers: int = 16

    @property
    def jobs_dir(self) -> Path:
        return self.home / "transforms"


@dataclass(frozen=True)
class Progress:
    records_done: int = 0
    records_total: int | None = None
    objects_done: int = 0
    objects_total: int | None = None


class TransformJobs:
    def __init__(self, db: Database, objects: LocalObjects, artifacts: ArtifactCache,
                 logs: LogStore, sandbox: Sandbox, settings: TransformSettings,
                 find_model: Callable[[str], Model], envs: Environments,
                 executor: Executor | None = None, identity: Identity | None = None,
                 worker_keys: WorkerKeys | None = None) -> None:
        self.db, self.objects, self.artifacts, self.logs = db, objects, artifacts, logs
        self.envs = envs
        self.identity, self.worker_keys = identity, worker_keys
        #: Where the workers run (Ray: actors; splitting and assembly stay here either way).
        self.executor = executor
        self.sandbox, self.settings, self.find_model = sandbox, settings, find_model
        self.rows = RecordRows(db, transform_jobs, KIND, load, dump)
        self.requests = TransformRequests(objects, find_model, settings.max_workers)
        self._runs: dict[str, TransformRun] = {}
        self._lock = threading.Lock()
        #: Called with a job's name once it has ended (a pipeline's engine listens).
        self.on_finished: list[Callable[[str], None]] = []

    # --- rows -------------------------------------------------------------------------------

    def create(self, request: dict[str, Any], region: str, account: str) -> TransformJob:
        """Validate a CreateTransformJob request, record the job and start it."""
        job = self.requests.new_job(request, region, account)
        self.rows.insert(job)
        run = TransformRun(self, job)
        with self._lock:
            self._runs[run.name] = run
        run.start()
        return job

    def get(self, name: str) -> TransformJob:
        return self.rows.get(name)

    def summaries(self, params: dict[str, Any]) -> list[TransformJob]:
        """ListTransformJobs' jobs, filtered and sorted as ``params`` ask."""
        c = transform_jobs.c
        query = select(c.describe, c.last_modified)
        if params.get("NameContains"):
            query = query.where(func.lower(c.name).contains(params["NameContains"].lower(),
                                                            autoescape=True))
        if params.get("StatusEquals"):
            query = query.where(c.status == params["StatusEquals"])
        for key, column, after in (("CreationTimeAfter", c.creation_time, True),
                                   ("CreationTimeBefore", c.creation_time, False),
                                   ("LastModifiedTimeAfter", c.last_modified, True),
                                   ("LastModifiedTimeBefore", c.last_modified, False)):
            if key in params:  # compared in whole milliseconds (see sagemaker.milliseconds)
                bound, stored = milliseconds(params[key]), func.round(column * 1000)
                query = query.where(stored > bound if after else stored < bound)
        order = {"Name": c.name, "Status": c.status}.get(params.get("SortBy", ""),
                                                         c.creation_time)
        descending = params.get("SortOrder", "Descending") == "Descending"
        query = query.order_by(order.desc() if descending else order.asc(), c.name)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [replace(load(dict(doc)), modified=last_modified) for doc, last_modified in rows]

    def progress_of_all(self) -> dict[str, Progress]:
        """Every job's progress by name (what ``cove transforms ls`` shows)."""
        c = transform_jobs.c
        with self.db.read() as conn:
            rows = conn.execute(select(c.name, c.records_done, c.records_total, c.objects_done,
                                       c.objects_total)).all()
        return {name: Progress(*rest) for name, *rest in rows}

    def progress(self, name: str) -> Progress:
        c = transform_jobs.c
        with self.db.read() as conn:
            row = conn.execute(select(c.records_done, c.records_total, c.objects_done,
                                      c.objects_total).where(c.name == name)).first()
        if row is None:
            raise self.rows.not_found(name)
        return Progress(*row)

    def save_progress(self, name: str, progress: Progress) -> None:
        with self.db.write() as conn:
            conn.execute(update(transform_jobs).where(transform_jobs.c.name == name).values(
                records_done=progress.records_done, records_total=progress.records_total,
                objects_done=progress.objects_done, objects_total=progress.objects_total))

    def exists_arn(self, arn: str) -> bool:
        return self.rows.exists_arn(arn)

    # --- lifecycle --------------------------------------------------------------------------

    def stop(self, name: str) -> None:
        def stopping(job: TransformJob) -> TransformJob:  # checked where it changes
            if job.status is not JobStatus.IN_PROGRESS:
                raise errors.ValidationError(
                    f"The transform job {name} is {job.status.value}: only an "
                    f"{JobStatus.IN_PROGRESS.value} job can be stopped.")
            return job.stopping()

        self.rows.change(name, stopping)
        with self._lock:
            run = self._runs.get(name)
        if run is not None:  # else it ended meanwhile, and wrote its final status after ours
            run.stop()

    def recover(self) -> None:
        """After a restart: jobs that were running died with cove; say so, and how far they got."""
        if self.identity is not None:  # their workers died with cove: so do their keys
            self.identity.revoke_prefix(KEY_OWNER_PREFIX)
        for job in self.rows.all():
            if job.status is JobStatus.STOPPING:
                self.rows.change(job.name, lambda j: j.finished(JobStatus.STOPPED, time.time()))
            elif job.status is JobStatus.IN_PROGRESS:
                done = self.progress(job.name)
                reason = (f"InternalServerError: cove was restarted while this transform job "
                          f"was running; its workers ended with the server. "
                          f"{_how_far(done)} Start a new job to transform the rest.")
                self.rows.change(job.name, partial(_failed, reason=reason))

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every running job (they end Failed: cove is going away) and wait for them."""
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.stop(shutting_down=True)
        deadline = time.monotonic() + timeout
        for run in runs:
            run.join(max(0.0, deadline - time.monotonic()))

    def keys(self, name: str, model: Model) -> dict[str, str]:
        """The environment that gives job ``name``'s workers a key for the model's role."""
        if self.worker_keys is None:
            return {}
        return self.worker_keys(KEY_OWNER_PREFIX + name, model)

    def revoke_keys(self, name: str) -> None:
        if self.identity is not None:
            self.identity.revoke(KEY_OWNER_PREFIX + name)

    def _finished(self, name: str) -> None:
        with self._lock:
            self._runs.pop(name, None)
        for listener in self.on_finished:
            listener(name)


class TransformRun:
    """One job's run: its workers, its engine, its log stream and progress, its final status."""

    def __init__(self, jobs: TransformJobs, job: TransformJob) -> None:
        self.jobs, self.job = jobs, job
        self.name = job.name
        self.progress = Progress()
        self._stopping = threading.Event()
        self._shutting_down = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Log events not yet stored, by stream (one per instance; see _stream).
        self._pending: dict[str, list[tuple[int, str]]] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one flush at a time: each stream stays in order
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"cove-transform-{self.name}")

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def stop(self, shutting_down: bool = False) -> None:
        self._shutting_down = self._shutting_down or shutting_down
        self._stopping.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the engine is done
                loop.call_soon_threadsafe(task.cancel)

    # --- Events (from the engine) -----------------------------------------------------------

    def log(self, message: str) -> None:
        """One of cove's own lines about the job, in the first instance's stream."""
        self._log_lines(self._stream(1), [message])

    def _stream(self, instance: int) -> str:
        """Instance ``instance``'s log stream, which holds its workers' output (and, for the
        first, cove's lines).  One stream per instance, as on SageMaker: the SDK's
        ``logs=True`` lists InstanceCount streams, and with more it shows the first ones
        twice (it repeats the first page of DescribeLogStreams without the nextToken)."""
        return f"{self.name}/instance-{instance}"

    def _log_lines(self, stream: str, lines: Sequence[str]) -> None:
        # Stamped in the order they are stored: a reader tailing by timestamp
        # (the SDK) misses nothing.
        with self._lock:
            now = int(time.time() * 1000)
            self._pending.setdefault(stream, []).extend((now, line) for line in lines)
        if self._done.is_set():  # a worker's last words, after the job's last flush
            self._flush()

    def records_done(self, count: int) -> None:
        self._advance(records=count)

    def object_done(self, item: InputObject, output: str, records: int,
                    seconds: float) -> None:
        self._advance(objects=1)
        self.log(f"{item.uri}: {records:,} record(s) in {seconds:.2f} s -> {output}")

    def _advance(self, records: int = 0, objects: int = 0, **totals: int) -> None:
        with self._lock:  # the engine's thread and the counting thread both report
            p = self.progress
            self.progress = replace(p, records_done=p.records_done + records,
                                    objects_done=p.objects_done + objects, **totals)

    # --- the run ----------------------------------------------------------------------------

    def _run(self) -> None:
        flusher = threading.Thread(target=self._flush_loop, daemon=True,
                                   name=f"cove-transform-flush-{self.name}")
        flusher.start()
        workers: LocalWorkers | None = None
        started = time.monotonic()
        status, reason = JobStatus.FAILED, ""
        try:
            self.jobs.rows.change(self.name, lambda j: j.began(time.time()))
            workers = self._workers()
            status = self._transform(workers)
        except TransformFailed as exc:
            reason = exc.reason
        except FleetFailed as exc:
            reason = ("ClientError: the model's workers could not start: "
                      + exc.message.removeprefix(f"variant {self.name}: "))
        except errors.CoveError as exc:
            reason = f"ClientError: {exc.message}"
        except Exception as exc:  # a bug or a broken disk: the job says so, cove goes on
            log.exception("transform job %s failed inside cove", self.name)
            reason = f"InternalServerError: {type(exc).__name__}: {exc}"
        finally:
            if workers is not None:
                workers.stop()
            self.jobs.revoke_keys(self.name)  # before the status says the job has ended
            status, reason = self._outcome(status, reason)
            self._conclude(status, reason, time.monotonic() - started)
            flusher.join()
            self.jobs._finished(self.name)

    def _workers(self) -> LocalWorkers:
        job, jobs = self.job, self.jobs
        model = jobs.find_model(job.model_name)
        serving = prepare_model(model, jobs.artifacts)
        environment = {**serving.environment, **batch_environment(job.request())}
        per_instance = workers_per_instance(environment)
        count = job.instance_count * per_instance
        python = serving_python(serving, jobs.envs, self.log)
        spec = FleetSpec(self.name, self.name, serving.runtime, serving.model_dir,
                         serving.code_dir, serving.entry_point,
                         {**environment, **jobs.keys(self.name, model)},
                         jobs.settings.jobs_dir / self.name, (jobs.settings.home,), python,
                         (jobs.envs.root,), job.instance_type)

        def worker_lines(index: int, lines: Sequence[str]) -> None:  # to its instance's stream
            self._log_lines(self._stream(index // per_instance + 1), lines)
        fleet = Fleet(spec, jobs.sandbox, worker_lines, jobs.executor)
        self.log(f"Starting {count} worker(s) for model {job.model_name} ({serving.runtime}, "
                 f"{serving.image})")
        return LocalWorkers(fleet, count)

    def _transform(self, workers: LocalWorkers) -> JobStatus:
        job = self.job
        items = self.jobs.objects.inputs(job.source)
        self._advance(objects_total=len(items))
        self.log(f"{len(items)} input object(s) under {job.source['S3Uri']}")
        # How records are split does not depend on the container's execution-parameters:
        # count them while the workers start.
        threading.Thread(target=self._count, args=(items, make_plan(job.request(), None)),
                         daemon=True, name=f"cove-transform-count-{self.name}").start()
        workers.start()
        if self._stopping.is_set():
            return JobStatus.STOPPED
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency where it installs
            runner = asyncio.Runner()
        else:
            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        with runner:
            try:
                runner.run(self._drive(workers, items))
            except asyncio.CancelledError:
                if not self._stopping.is_set():
                    raise
                return JobStatus.STOPPED
        return JobStatus.COMPLETED

    async def _drive(self, workers: LocalWorkers, items: list[InputObject]) -> None:
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        if self._stopping.is_set():
            raise asyncio.CancelledError
        try:
            plan = make_plan(self.job.request(), await workers.execution_parameters())
            self.log("Mini-batches: " + ", ".join(
                f"{key} {value} ({origin})" for key, (value, origin) in plan.settings.items()))
            await Engine(plan, items, self.jobs.objects, workers, self).run()
        finally:
            await workers.close()

    def _count(self, items: list[InputObject], plan: Plan) -> None:
        """Count the records (progress's total) beside the run; reads the input once more."""
        total = 0
        for item in items:
            if self._done.is_set():
                return
            try:
                total += count_records(item, self.jobs.objects, plan)
            except (SplitError, InputError, errors.CoveError):
                return  # the engine meets the same problem in this object and fails the job
        self._advance(records_total=total)

    def _outcome(self, status: JobStatus, reason: str) -> tuple[JobStatus, str]:
        if self._shutting_down and status is not JobStatus.COMPLETED:
            return JobStatus.FAILED, ("InternalServerError: cove shut down while the job was "
                                      f"running. {_how_far(self.progress)}")
        if self._stopping.is_set() and status is not JobStatus.COMPLETED:
            return JobStatus.STOPPED, ""
        return status, reason

    def _conclude(self, status: JobStatus, reason: str, seconds: float) -> None:
        done = self.progress
        if status is JobStatus.COMPLETED:
            self.log(f"Completed: {done.records_done:,} record(s) in {done.objects_done} "
                     f"object(s) in {seconds:.1f} s")
        elif status is JobStatus.FAILED:
            self.log(f"Failed: {reason}")
        else:
            self.log(f"Stopped. {_how_far(done)}")
        self._done.set()
        self._flush()
        self.jobs.rows.change(self.name, lambda j: j.finished(status, time.time(), reason))

    # --- progress and log -------------------------------------------------------------------

    def _flush_loop(self) -> None:
        while not self._done.wait(FLUSH_SECONDS):
            self._flush()

    def _flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, {}
            self.jobs.save_progress(self.name, self.progress)
            for stream, events in pending.items():
                self.jobs.logs.put_events(LOG_GROUP, stream, events)


def _failed(job: TransformJob, reason: str) -> TransformJob:
    return job.finished(JobStatus.FAILED, time.time(), reason)


def _how_far(progress: Progress) -> str:
    total = f" of {progress.objects_total}" if progress.objects_total is not None else ""
    return (f"{progress.objects_done}{total} input object(s) were transformed and their .out "
            f"objects written ({progress.records_done:,} records); no partial output was "
            "written for the others.")


__all__ = ["LOG_GROUP", "TERMINAL", "Progress", "TransformJobs", "TransformRun",
           "TransformSettings"]

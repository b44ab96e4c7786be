"""The engine: one thread that moves every running execution forward.

Each pass reads an execution's step runs from the database, polls the jobs of running steps,
applies retry policies, starts the steps whose inputs are ready (within the parallelism
limit), and ends the execution when nothing more can run.  Nothing lives only in memory: after
a restart the same pass re-attaches to the jobs it had started (their names are derived from
the execution, step and attempt) and runs again any whose job cove's restart ended.

A pass runs when something happened (an execution started, stopped or was retried; a job
or a Lambda step's call ended: the job services call ``wake``), when a retry falls due, and
otherwise every ``fallback`` seconds, for what sends no event.  A Lambda step's function runs
in a thread of its own (it may take minutes), never on the engine's; a restart calls it
again, as SageMaker may.  Every request a step makes acts for the execution's role
(``_acting.py``).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from cove import errors
from cove.pipelines._acting import Acting, Actor
from cove.pipelines._crash import crash_point
from cove.pipelines._definition import JOB_STEPS, Definition, Step, parse
from cove.pipelines._expressions import (
    Context,
    ExpressionError,
    evaluate,
    holds,
    parse_json,
    walk,
)
from cove.pipelines._records import Execution, ExecutionStatus, StepRun, StepStatus
from cove.pipelines._steps import InstantSteps, JobSteps, Outcome, client_token, job_name
from cove.pipelines._store import PipelineStore
from cove.sagemaker import parse_s3_uri

log = logging.getLogger("cove.pipelines")

_ACTIVE = (StepStatus.STARTING, StepStatus.EXECUTING, StepStatus.STOPPING)


class Engine:
    def __init__(self, store: PipelineStore, acting: Acting, clock: Callable[[], float],
                 job_ends: Iterable[list[Callable[[str], None]]] = (),
                 fallback: float = 1.0) -> None:
        """``job_ends``: the job services' ``on_finished`` lists; the engine listens to each."""
        self.store, self.acting, self.clock, self.fallback = store, acting, clock, fallback
        for listeners in job_ends:
            listeners.append(self.wake)
        self._definitions: dict[str, Definition] = {}
        self._actors: dict[str, Actor] = {}
        self._due = 0.0  # when the next pass must run at the latest (a retry's time)
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        #: Lambda steps' calls under way, by (execution, step, attempt)
        self._pending: dict[tuple[str, str, int], Future[Outcome]] = {}

    def start(self) -> None:
        """Drive executions (after a restart: resume those that were under way)."""
        self._thread = threading.Thread(target=self._loop, name="cove-pipelines", daemon=True)
        self._thread.start()

    def wake(self, *_: object) -> None:
        """Run a pass now (also a job service's ``on_finished`` listener)."""
        self._wake.set()

    def shutdown(self) -> None:
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._closing:
            self._wake.wait(max(0.0, min(self.fallback, self._due - self.clock())))
            self._wake.clear()
            self._due = self.clock() + self.fallback
            for execution in self.store.executions(statuses=(ExecutionStatus.EXECUTING,
                                                             ExecutionStatus.STOPPING)):
                if self._closing:
                    return
                try:
                    self.advance(execution)
                except errors.CoveError as exc:  # e.g. its key was revoked under it
                    self._finish(execution, ExecutionStatus.FAILED,
                                 f"{exc.code_for('json')}: {exc.message}")
                except Exception as exc:  # a bug must not stall every other execution
                    log.exception("pipeline execution %s failed inside cove", execution.arn)
                    self._finish(execution, ExecutionStatus.FAILED,
                                 f"InternalServerError: {type(exc).__name__}: {exc}")

    # --- one pass over one execution --------------------------------------------------------

    def advance(self, execution: Execution) -> None:
        definition = self._definition(execution)
        actor = self._actor(execution)
        runs = {name: self._progress(execution, actor, definition.steps[name], run)
                for name, run in self.store.steps(execution.arn).items()}
        if execution.status is ExecutionStatus.STOPPING:
            self._stop(execution, actor, runs)
            return
        fates = self._start_ready(execution, actor, definition, runs)
        failed = [runs[n] for n, fate in fates.items() if fate == "failed" and n in runs]
        if any(fate == "active" for fate in fates.values()):
            return
        if failed:
            first = min(failed, key=lambda r: r.ended or 0)
            reason = first.failure_reason or f"the step ended {first.status.value}"
            self._finish(execution, ExecutionStatus.FAILED, reason if first.type == "Fail"
                         else f"Step {first.name} failed: {reason}")
        elif not any(fate == "waiting" for fate in fates.values()):
            self._finish(execution, ExecutionStatus.SUCCEEDED, "")

    def _start_ready(self, execution: Execution, actor: Actor, definition: Definition,
                     runs: dict[str, StepRun]) -> dict[str, str]:
        """Start every step whose inputs are ready, again and again while steps that finish
        at once (conditions, models, registrations) make more ready; the steps' fates."""
        fates = _fates(definition, runs)
        while not any(fate == "failed" for n, fate in fates.items() if n in runs):
            ready = self._ready(execution, definition, runs, fates)
            if not ready:
                break
            for step in ready:
                runs[step.name] = self._begin(execution, actor, step, runs, attempt=1)
            fates = _fates(definition, runs)
        return fates

    def _ready(self, execution: Execution, definition: Definition, runs: dict[str, StepRun],
               fates: dict[str, str]) -> list[Step]:
        running = sum(1 for r in runs.values() if r.status in _ACTIVE and r.type in JOB_STEPS)
        room = (execution.parallelism or 50) - running
        ready = []
        for name, fate in fates.items():
            step = definition.steps[name]
            if fate != "waiting" or name in runs:
                continue
            if all(fates[u] == "succeeded" for u in step.upstream()):
                if step.type in JOB_STEPS:
                    if room <= 0:
                        continue
                    room -= 1
                ready.append(step)
        return ready

    def _begin(self, execution: Execution, actor: Actor, step: Step,
               runs: dict[str, StepRun], attempt: int) -> StepRun:
        now = self.clock()
        run = StepRun(execution.arn, step.name, step.type, StepStatus.STARTING, attempt, now,
                      job_name=job_name(step.type, execution.id, step.name, attempt))
        try:
            context = self._context(execution, actor, runs)
            if step.type == "Condition":
                return self._put(self._condition(run, step, context))
            arguments = evaluate(step.arguments, context)
        except ExpressionError as exc:
            return self._put(_ended(run, Outcome(StepStatus.FAILED, failure=str(exc)), now))
        except errors.CoveError as exc:  # a property file the role may not read
            return self._put(_ended(run, _refused(exc), now))
        if step.type in JOB_STEPS:
            return self._start_job(execution, actor, step, run, arguments)
        if step.type == "Lambda":
            return self._call(actor, step, run, arguments)
        self._put(run)
        outcome = self._instant(actor, step, run, arguments)
        crash_point(f"pipelines.{step.type}")
        return self._put(_ended(run, outcome, self.clock()))

    def _start_job(self, execution: Execution, actor: Actor, step: Step, run: StepRun,
                   arguments: Any) -> StepRun:
        cached = self._cached(execution, step, arguments)
        if cached is not None:
            return self._put(dataclasses.replace(
                run, status=StepStatus.SUCCEEDED, ended=self.clock(), job_name=cached.job_name,
                properties=cached.properties, metadata=cached.metadata,
                cache_key=cached.cache_key, cache_source=cached.execution_arn))
        run = self._put(dataclasses.replace(run, cache_key=_digest(step.type, arguments)))
        try:
            JobSteps(actor.sagemaker).start(step.type, arguments, run.job_name)
        except errors.CoveError as exc:
            kind = "Step.SERVICE_FAULT" if isinstance(exc, errors.ServerError) else ""
            return self._after_failure(step, run, dataclasses.replace(_refused(exc),
                                                                      retry_as=kind))
        return self._put(dataclasses.replace(run, status=StepStatus.EXECUTING))

    def _call(self, actor: Actor, step: Step, run: StepRun, arguments: Any) -> StepRun:
        """Call a Lambda step's function in a thread of its own (a daemon: cove's shutdown
        does not wait for a function); the pass after it returns records it."""
        future: Future[Outcome] = Future()

        def call() -> None:
            try:
                future.set_result(self._instant(actor, step, run, arguments))
            except BaseException as exc:  # noqa: BLE001 - handed to the pass, which fails it
                future.set_exception(exc)
            self.wake()
        run = self._put(dataclasses.replace(run, status=StepStatus.EXECUTING))
        self._pending[(run.execution_arn, run.name, run.attempt)] = future
        threading.Thread(target=call, name=f"cove-pipeline-lambda-{step.name}",
                         daemon=True).start()
        return run

    def _called(self, execution: Execution, actor: Actor, step: Step,
                run: StepRun) -> StepRun:
        """A Lambda step under way: recorded once its call returned; called again when
        none is under way (a restart ended it), unless the execution is stopping."""
        future = self._pending.get((run.execution_arn, run.name, run.attempt))
        if future is None and execution.status is ExecutionStatus.STOPPING:
            return self._put(_ended(run, Outcome(StepStatus.STOPPED), self.clock()))
        if future is None:
            return self._begin(execution, actor, step, self.store.steps(execution.arn),
                               run.attempt)
        if not future.done():
            return run
        del self._pending[(run.execution_arn, run.name, run.attempt)]
        outcome = future.result()  # a bug in cove raises here: the pass fails the execution
        crash_point("pipelines.Lambda")
        return self._put(_ended(run, outcome, self.clock()))

    def _progress(self, execution: Execution, actor: Actor, step: Step,
                  run: StepRun) -> StepRun:
        """Poll a running job step or Lambda call; start a retry whose time has come."""
        if run.type == "Lambda" and run.status in (StepStatus.STARTING, StepStatus.EXECUTING):
            return self._called(execution, actor, step, run)
        if run.status is StepStatus.STARTING and run.type in JOB_STEPS:
            if run.retry_at > self.clock():
                self._due = min(self._due, run.retry_at)
                return run
            try:
                arguments = self._arguments(execution, actor, step)
                JobSteps(actor.sagemaker).start(step.type, arguments, run.job_name)
            except ExpressionError as exc:
                return self._put(_ended(run, Outcome(StepStatus.FAILED, failure=str(exc)),
                                        self.clock()))
            except errors.CoveError as exc:
                return self._put(_ended(run, _refused(exc), self.clock()))
            return self._put(dataclasses.replace(run, status=StepStatus.EXECUTING))
        if run.status is StepStatus.STARTING:  # an instant step a restart interrupted
            return self._begin(execution, actor, step, self.store.steps(execution.arn),
                               run.attempt)
        if run.status not in (StepStatus.EXECUTING, StepStatus.STOPPING):
            return run
        try:
            outcome = JobSteps(actor.sagemaker).poll(step.type, run.job_name)
        except errors.ClientError as exc:  # e.g. the role lost sagemaker:Describe*
            return self._put(_ended(run, _refused(exc), self.clock()))
        if outcome.status is StepStatus.FAILED:
            return self._after_failure(step, run, outcome)
        if outcome.status.is_finished():
            return self._put(_ended(run, outcome, self.clock()))
        if outcome.metadata != run.metadata or outcome.status is not run.status:
            return self._put(dataclasses.replace(run, status=outcome.status,
                                                 metadata=outcome.metadata))
        return run

    def _after_failure(self, step: Step, run: StepRun, outcome: Outcome) -> StepRun:
        delay = _retry_delay(step, run.attempt, outcome.retry_as)
        if delay is None:
            return self._put(_ended(run, outcome, self.clock()))
        attempt = run.attempt + 1
        log.info("step %s of %s failed (%s); attempt %d in %.1f s", step.name,
                 run.execution_arn, outcome.failure, attempt, delay)
        execution_id = run.execution_arn.rsplit("/", 1)[-1]
        return self._put(dataclasses.replace(
            run, status=StepStatus.STARTING, attempt=attempt, retry_at=self.clock() + delay,
            job_name=job_name(step.type, execution_id, step.name, attempt),
            failure_reason=outcome.failure, metadata=outcome.metadata))

    def _stop(self, execution: Execution, actor: Actor, runs: dict[str, StepRun]) -> None:
        active = [r for r in runs.values() if r.status in _ACTIVE]
        for run in active:
            if run.type in JOB_STEPS and run.status is StepStatus.EXECUTING:
                JobSteps(actor.sagemaker).stop(run.type, run.job_name)
                self._put(dataclasses.replace(run, status=StepStatus.STOPPING))
            elif run.status is StepStatus.STARTING:
                self._put(_ended(run, Outcome(StepStatus.STOPPED), self.clock()))
        if not any(r.status in (StepStatus.EXECUTING, StepStatus.STOPPING) for r in active):
            self._finish(execution, ExecutionStatus.STOPPED, "")

    # --- steps that finish at once ----------------------------------------------------------

    def _instant(self, actor: Actor, step: Step, run: StepRun, arguments: Any) -> Outcome:
        instant = InstantSteps(actor.sagemaker, actor.invoke)
        try:
            if step.type in ("Model", "CreateModel"):
                return instant.model(arguments, run.job_name)
            if step.type == "RegisterModel":
                execution_id = run.execution_arn.rsplit("/", 1)[-1]
                return instant.register(arguments, client_token(execution_id, step.name,
                                                                run.attempt))
            if step.type == "Lambda":
                return instant.lambda_(step.raw["FunctionArn"], arguments,
                                       step.raw.get("OutputParameters") or [])
            message = str(arguments.get("ErrorMessage", "")) if isinstance(arguments, dict) \
                else ""
            return Outcome(StepStatus.FAILED, {}, {"Fail": {"ErrorMessage": message}},
                           message or "The pipeline reached a Fail step.")
        except errors.CoveError as exc:
            return _refused(exc)

    def _condition(self, run: StepRun, step: Step, context: Context) -> StepRun:
        outcome = all(holds(c, context) for c in step.arguments["Conditions"])
        return _ended(run, Outcome(StepStatus.SUCCEEDED, {"Outcome": outcome},
                                   {"Condition": {"Outcome": str(outcome).lower()}}),
                      self.clock())

    # --- values -----------------------------------------------------------------------------

    def _context(self, execution: Execution, actor: Actor, runs: dict[str, StepRun]) -> Context:
        definition = self._definition(execution)

        def properties(name: str) -> Any:
            run = runs.get(name)
            if run is None or run.status is not StepStatus.SUCCEEDED:
                raise ExpressionError(f"Step {name} has not succeeded: its properties are not "
                                      "there to read.")
            return run.properties

        def property_file(step: str, name: str) -> str:
            files = {f.get("PropertyFileName"): f for f in definition.steps[step].property_files}
            if name not in files:
                raise ExpressionError(f"Step {step} has no property file {name!r}.")
            output = walk(properties(step), f"ProcessingOutputConfig.Outputs['"
                          f"{files[name]['OutputName']}'].S3Output.S3Uri", f"Steps.{step}")
            return f"{str(output).rstrip('/')}/{files[name]['FilePath']}"

        def read_json(uri: str) -> Any:
            bucket, key = parse_s3_uri(uri, "property file")
            try:
                return parse_json(actor.read_object(bucket, key), uri)
            except (errors.NoSuchKey, errors.NoSuchBucket) as exc:
                raise ExpressionError(f"The property file {uri} does not exist.") from exc

        return Context(execution.parameters, _variables(execution, self.clock()), properties,
                       property_file, read_json)

    def _arguments(self, execution: Execution, actor: Actor, step: Step) -> Any:
        runs = self.store.steps(execution.arn)
        return evaluate(step.arguments, self._context(execution, actor, runs))

    def _cached(self, execution: Execution, step: Step, arguments: Any) -> StepRun | None:
        if not step.cache.get("Enabled"):
            return None
        expiry = _duration(str(step.cache.get("ExpireAfter") or "P30D"))
        return self.store.cached(_digest(step.type, arguments), execution.pipeline,
                                 self.clock() - expiry)

    # --- bookkeeping ------------------------------------------------------------------------

    def _definition(self, execution: Execution) -> Definition:
        if execution.arn not in self._definitions:
            self._definitions[execution.arn] = parse(execution.definition)
        return self._definitions[execution.arn]

    def _actor(self, execution: Execution) -> Actor:
        """Who the execution's steps act as: its role, through a key issued at its first
        pass and kept in its record, so a restart acts as the same principal."""
        if execution.arn in self._actors:
            return self._actors[execution.arn]
        key = execution.access_key
        if not key:
            role = execution.role_arn or self.store.pipeline(execution.pipeline).role_arn
            key = self.acting.assume(_owner(execution), role, f"SageMaker-{execution.id}")
            self.store.change_execution(execution.arn, lambda e: dataclasses.replace(
                e, role_arn=role, access_key=key))
        actor = self._actors[execution.arn] = self.acting.actor(key)
        return actor

    def _put(self, run: StepRun) -> StepRun:
        self.store.put_step(run)
        return run

    def _finish(self, execution: Execution, status: ExecutionStatus, reason: str) -> None:
        def end(current: Execution) -> Execution:
            if not current.status.can_become(status):
                return current
            return dataclasses.replace(current, status=status, failure_reason=reason,
                                       modified=self.clock(), access_key="")
        ended = self.store.change_execution(execution.arn, end)
        for call in [c for c in self._pending if c[0] == execution.arn]:
            del self._pending[call]  # its answer has nowhere to go
        self._definitions.pop(execution.arn, None)
        self._actors.pop(execution.arn, None)
        if ended.status is status:  # its key ends with it (a retry is given a new one)
            self.acting.release(_owner(execution))


def _fates(definition: Definition, runs: dict[str, StepRun]) -> dict[str, str]:
    """Each step's fate: succeeded, failed, active, waiting (may still run) or skipped (a
    condition went the other way, or a step it needs will never succeed)."""
    fates: dict[str, str] = {}

    def fate(name: str) -> str:
        if name in fates:
            return fates[name]
        run, step = runs.get(name), definition.steps[name]
        if run is not None:
            result = {StepStatus.SUCCEEDED: "succeeded", StepStatus.FAILED: "failed",
                      StepStatus.STOPPED: "failed"}.get(run.status, "active")
        elif _not_taken(step, runs) or any(fate(u) in ("skipped", "failed")
                                           for u in step.upstream()):
            result = "skipped"
        else:
            result = "waiting"
        fates[name] = result
        return result

    for name in definition.steps:
        fate(name)
    return fates


def _not_taken(step: Step, runs: dict[str, StepRun]) -> bool:
    """Whether the step sits in the branch its condition did not take."""
    if step.branch is None:
        return False
    condition = runs.get(step.branch[0])
    return condition is not None and condition.status is StepStatus.SUCCEEDED and \
        condition.properties.get("Outcome") is not step.branch[1]


def _owner(execution: Execution) -> str:
    """Whose key an execution's is (short: a key's owner is at most 256 characters)."""
    return f"pipeline-execution/{execution.id}"


def _refused(exc: errors.CoveError) -> Outcome:
    """A step that a service refused (AccessDenied, ValidationException...) fails with the
    error a client would have got."""
    return Outcome(StepStatus.FAILED, failure=f"{exc.code_for('json')}: {exc.message}")


def _ended(run: StepRun, outcome: Outcome, now: float) -> StepRun:
    return dataclasses.replace(run, status=outcome.status, ended=now,
                               properties=outcome.properties or run.properties,
                               metadata=outcome.metadata or run.metadata,
                               failure_reason=outcome.failure)


def _retry_delay(step: Step, attempt: int, kind: str) -> float | None:
    """Seconds until the next attempt, or None when no policy covers this failure."""
    if kind == "interrupted":
        return 0.0
    for policy in step.retry_policies:
        if kind and kind in (policy.get("ExceptionType") or []) and \
                attempt <= int(policy.get("MaxAttempts", 1)):
            interval = float(policy.get("IntervalSeconds", 1))
            return interval * float(policy.get("BackoffRate", 2.0)) ** (attempt - 1)
    return None


def _digest(kind: str, arguments: Any) -> str:
    text = json.dumps([kind, arguments], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                       r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def _duration(text: str) -> float:
    """An ISO 8601 duration (CacheConfig's ExpireAfter: ``P30D``, ``PT1H``) in seconds."""
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT"):
        raise ExpressionError(f"ExpireAfter {text!r} is not an ISO 8601 duration (P30D, PT1H).")
    years, months, weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float((((years * 365 + months * 30 + weeks * 7 + days) * 24 + hours) * 60
                  + minutes) * 60 + seconds)


def _variables(execution: Execution, now: float) -> dict[str, Any]:
    def iso(t: float) -> str:
        return datetime.datetime.fromtimestamp(t, datetime.UTC).isoformat()
    return {"PipelineExecutionId": execution.id, "PipelineExecutionArn": execution.arn,
            "PipelineName": execution.pipeline, "PipelineArn": execution.pipeline_arn,
            "StartDateTime": iso(execution.created), "CurrentDateTime": iso(now),
            "PipelineExperimentName": execution.pipeline,
            "PipelineExecutionDisplayName": execution.display_name}

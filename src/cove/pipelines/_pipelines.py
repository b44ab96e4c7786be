"""The pipelines service: pipelines and their executions, and the rules for changing them.
The engine (``_engine.py``) runs what this records."""

from __future__ import annotations

import dataclasses
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cove import errors
from cove.pipelines._definition import Definition, parse
from cove.pipelines._engine import Engine
from cove.pipelines._records import (
    Execution,
    ExecutionStatus,
    Pipeline,
    PipelineVersion,
    StepRun,
    StepStatus,
)
from cove.pipelines._store import PipelineStore
from cove.sagemaker import arn


@dataclass(frozen=True)
class PipelineSpec:
    """What CreatePipeline and UpdatePipeline give (None: unchanged, for an update)."""

    definition: str | None
    role_arn: str | None
    display_name: str | None = None
    description: str | None = None
    parallelism: int | None = None


@dataclass(frozen=True)
class ExecutionSpec:
    parameters: list[dict[str, Any]]
    display_name: str
    description: str
    parallelism: int | None
    version_id: int | None = None  # the latest when None
    client_token: str = ""


class Pipelines:
    def __init__(self, store: PipelineStore, engine: Engine, clock: Callable[[], float]) -> None:
        self.store, self.engine, self.clock = store, engine, clock

    def create(self, name: str, spec: PipelineSpec, region: str, account: str) -> Pipeline:
        if spec.definition is None or not spec.role_arn:
            raise errors.ValidationError("CreatePipeline needs a PipelineDefinition (or "
                                         "PipelineDefinitionS3Location) and a RoleArn.")
        parse(spec.definition)
        now = self.clock()
        pipeline = Pipeline(name, arn(region, account, "pipeline", name), spec.definition,
                            spec.role_arn, spec.display_name or name, spec.description or "",
                            now, now, spec.parallelism,
                            versions=(PipelineVersion(1, now, spec.definition),))
        self.store.insert_pipeline(pipeline)
        return pipeline

    def update(self, name: str, spec: PipelineSpec) -> Pipeline:
        if spec.definition is not None:
            parse(spec.definition)

        def change(p: Pipeline) -> Pipeline:
            now = self.clock()
            definition = p.definition if spec.definition is None else spec.definition
            latest = p.version(None)
            return dataclasses.replace(
                p, modified=now, definition=definition,
                versions=(*(p.versions or (latest,)),
                          PipelineVersion(latest.id + 1, now, definition)),
                role_arn=spec.role_arn or p.role_arn,
                display_name=p.display_name if spec.display_name is None else spec.display_name,
                description=p.description if spec.description is None else spec.description,
                parallelism=p.parallelism if spec.parallelism is None else spec.parallelism)
        return self.store.change_pipeline(self.store.pipeline(name).name, change)

    def delete(self, name: str) -> Pipeline:
        pipeline = self.store.pipeline(name)
        for execution in self.store.executions(pipeline.name, (ExecutionStatus.EXECUTING,)):
            self.stop(execution.arn)
        self.store.delete_pipeline(pipeline.name)
        return pipeline

    def start(self, name: str, spec: ExecutionSpec) -> Execution:
        pipeline = self.store.pipeline(name)
        version = pipeline.version(spec.version_id)
        definition: Definition = parse(version.definition)
        now = self.clock()
        execution_id = "".join(secrets.choice(string.ascii_lowercase + string.digits)
                               for _ in range(12))
        execution = Execution(
            f"{pipeline.arn}/execution/{execution_id}", pipeline.name, pipeline.arn,
            ExecutionStatus.EXECUTING, version.definition, definition.values(spec.parameters),
            spec.display_name or f"execution-{int(now * 1000)}", spec.description, now, now,
            spec.parallelism or pipeline.parallelism, version_id=version.id,
            role_arn=pipeline.role_arn, client_token=spec.client_token)
        recorded = self.store.insert_execution(execution)
        if recorded is not execution:  # started before, with this ClientRequestToken
            return recorded
        self.store.change_pipeline(pipeline.name,
                                   lambda p: dataclasses.replace(p, last_run=now))
        self.engine.wake()
        return execution

    def stop(self, execution_arn: str) -> Execution:
        def stopping(e: Execution) -> Execution:
            if not e.status.can_become(ExecutionStatus.STOPPING):
                raise errors.ValidationError(
                    f"Pipeline execution {e.arn} is {e.status.value}; only an Executing "
                    "execution can be stopped.")
            return dataclasses.replace(e, status=ExecutionStatus.STOPPING,
                                       modified=self.clock())
        execution = self.store.change_execution(execution_arn, stopping)
        self.engine.wake()
        return execution

    def retry(self, execution_arn: str, parallelism: int | None) -> Execution:
        """RetryPipelineExecution: run a failed or stopped execution's failed and stopped
        steps again; steps that succeeded are not re-run."""
        def again(e: Execution) -> Execution:
            if not e.status.can_become(ExecutionStatus.EXECUTING):
                raise errors.ValidationError(
                    f"Pipeline execution {e.arn} is {e.status.value}; only a Failed or "
                    "Stopped execution can be retried.")
            return dataclasses.replace(e, status=ExecutionStatus.EXECUTING, failure_reason="",
                                       modified=self.clock(),
                                       parallelism=parallelism or e.parallelism)
        execution = self.store.change_execution(execution_arn, again)
        for run in self.store.steps(execution_arn).values():
            if run.status in (StepStatus.FAILED, StepStatus.STOPPED):
                self.store.put_step(_next_attempt(run, execution.id, self.clock()))
        self.engine.wake()
        return execution


def _next_attempt(run: StepRun, execution_id: str, now: float) -> StepRun:
    from cove.pipelines._steps import job_name

    attempt = run.attempt + 1
    return dataclasses.replace(run, status=StepStatus.STARTING, attempt=attempt, retry_at=now,
                               ended=None, failure_reason="",
                               job_name=job_name(run.type, execution_id, run.name, attempt))

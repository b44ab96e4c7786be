"""Pipelines, executions and step runs in the metadata database, as records."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, insert, select, update

from cove import errors
from cove.meta import Database
from cove.meta.tables import pipeline_executions, pipeline_steps, pipelines
from cove.pipelines._records import (
    Execution,
    ExecutionStatus,
    Pipeline,
    PipelineVersion,
    StepRun,
    StepStatus,
)


class PipelineStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- pipelines --------------------------------------------------------------------------

    def insert_pipeline(self, pipeline: Pipeline) -> None:
        with self.db.write() as conn:
            if conn.execute(select(pipelines.c.name).where(
                    pipelines.c.name == pipeline.name)).first():
                raise errors.ValidationError(
                    f"Pipeline names must be unique within an AWS account and region. "
                    f"Pipeline with name ({pipeline.name}) already exists.")
            conn.execute(insert(pipelines).values(
                name=pipeline.name, arn=pipeline.arn, creation_time=pipeline.created,
                record=_pipeline_record(pipeline)))

    def pipeline(self, name_or_arn: str) -> Pipeline:
        name = name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn
        with self.db.read() as conn:
            row = conn.execute(select(pipelines).where(pipelines.c.name == name)).first()
        if row is None:
            raise errors.ResourceNotFound(f"Pipeline '{name_or_arn}' does not exist.")
        return _pipeline(row)

    def all_pipelines(self) -> list[Pipeline]:
        with self.db.read() as conn:
            names = [r.name for r in conn.execute(select(pipelines.c.name))]
        return [self.pipeline(n) for n in names]

    def change_pipeline(self, name: str, mutate: Callable[[Pipeline], Pipeline]) -> Pipeline:
        with self.db.write() as conn:
            row = conn.execute(select(pipelines).where(pipelines.c.name == name)).first()
            if row is None:
                raise errors.ResourceNotFound(f"Pipeline '{name}' does not exist.")
            changed = mutate(_pipeline(row))
            conn.execute(update(pipelines).where(pipelines.c.name == name).values(
                record=_pipeline_record(changed)))
        return changed

    def delete_pipeline(self, name: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(pipelines).where(pipelines.c.name == name))

    # --- executions -------------------------------------------------------------------------

    def insert_execution(self, execution: Execution) -> Execution:
        """Record a new execution; or, when an execution of the same pipeline was started
        with the same ClientRequestToken (a client's retry), return that one instead."""
        with self.db.write() as conn:
            if execution.client_token:
                rows = conn.execute(select(pipeline_executions).where(
                    pipeline_executions.c.pipeline == execution.pipeline))
                for row in rows:
                    if row.record.get("client_token") == execution.client_token:
                        return _execution(row)
            conn.execute(insert(pipeline_executions).values(
                arn=execution.arn, pipeline=execution.pipeline,
                status=execution.status.value, creation_time=execution.created,
                record=_execution_record(execution)))
        return execution

    def execution(self, arn: str) -> Execution:
        with self.db.read() as conn:
            row = conn.execute(select(pipeline_executions).where(
                pipeline_executions.c.arn == arn)).first()
        if row is None:
            raise errors.ResourceNotFound(f"Pipeline execution '{arn}' does not exist.")
        return _execution(row)

    def executions(self, pipeline: str | None = None,
                   statuses: tuple[ExecutionStatus, ...] = ()) -> list[Execution]:
        query = select(pipeline_executions).order_by(pipeline_executions.c.creation_time)
        if pipeline is not None:
            query = query.where(pipeline_executions.c.pipeline == pipeline)
        if statuses:
            query = query.where(pipeline_executions.c.status.in_([s.value for s in statuses]))
        with self.db.read() as conn:
            return [_execution(r) for r in conn.execute(query)]

    def change_execution(self, arn: str,
                         mutate: Callable[[Execution], Execution]) -> Execution:
        with self.db.write() as conn:
            row = conn.execute(select(pipeline_executions).where(
                pipeline_executions.c.arn == arn)).first()
            if row is None:
                raise errors.ResourceNotFound(f"Pipeline execution '{arn}' does not exist.")
            changed = mutate(_execution(row))
            conn.execute(update(pipeline_executions).where(
                pipeline_executions.c.arn == arn).values(
                status=changed.status.value, record=_execution_record(changed)))
        return changed

    # --- steps ------------------------------------------------------------------------------

    def steps(self, execution_arn: str) -> dict[str, StepRun]:
        with self.db.read() as conn:
            rows = conn.execute(select(pipeline_steps).where(
                pipeline_steps.c.execution_arn == execution_arn)).all()
        return {r.name: _step(r) for r in rows}

    def put_step(self, run: StepRun) -> None:
        values = {"status": run.status.value, "cache_key": run.cache_key,
                  "record": _without(run, "execution_arn", "name", "status")}
        with self.db.write() as conn:
            changed = conn.execute(update(pipeline_steps).where(
                pipeline_steps.c.execution_arn == run.execution_arn,
                pipeline_steps.c.name == run.name).values(**values)).rowcount
            if not changed:
                conn.execute(insert(pipeline_steps).values(
                    execution_arn=run.execution_arn, name=run.name, **values))

    def cached(self, cache_key: str, pipeline: str, since: float) -> StepRun | None:
        """The newest succeeded run of a step with these resolved arguments, in an execution
        of ``pipeline``, that started after ``since``."""
        with self.db.read() as conn:
            rows = conn.execute(select(pipeline_steps).join(
                pipeline_executions,
                pipeline_executions.c.arn == pipeline_steps.c.execution_arn).where(
                pipeline_steps.c.cache_key == cache_key,
                pipeline_steps.c.status == StepStatus.SUCCEEDED.value,
                pipeline_executions.c.pipeline == pipeline)).all()
        runs = [r for r in map(_step, rows) if r.started >= since]
        return max(runs, key=lambda r: r.started, default=None)


def _without(record: Any, *names: str) -> dict[str, Any]:
    values = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)
              if f.name not in names}
    return {k: (v.value if hasattr(v, "value") and not isinstance(v, dict) else
                dict(v) if hasattr(v, "items") else v) for k, v in values.items()}


def _pipeline_record(pipeline: Pipeline) -> dict[str, Any]:
    record = _without(pipeline, "name", "arn", "created", "versions")
    record["versions"] = [dataclasses.asdict(v) for v in pipeline.versions]
    return record


def _pipeline(row: Any) -> Pipeline:
    record = dict(row.record)
    versions = tuple(PipelineVersion(**v) for v in record.pop("versions", []))
    return Pipeline(name=row.name, arn=row.arn, created=row.creation_time, versions=versions,
                    **record)


def _execution_record(execution: Execution) -> dict[str, Any]:
    return _without(execution, "arn", "pipeline", "status", "created")


def _execution(row: Any) -> Execution:
    return Execution(arn=row.arn, pipeline=row.pipeline, status=ExecutionStatus(row.status),
                     created=row.creation_time, **row.record)


def _step(row: Any) -> StepRun:
    return StepRun(execution_arn=row.execution_arn, name=row.name,
                   status=StepStatus(row.status), **row.record)

"""Pipelines, their executions and the steps of an execution, as records with enum lifecycles.

An execution moves only as its lifecycle allows (:meth:`ExecutionStatus.can_become`); the
engine asks a status what it may become instead of comparing strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cove import errors

# The lifecycles' home is cove.lifecycles (the CLI reads them there); re-exported here.
from cove.lifecycles import ExecutionStatus as ExecutionStatus
from cove.lifecycles import PipelineStatus as PipelineStatus
from cove.lifecycles import StepStatus as StepStatus


@dataclass(frozen=True)
class PipelineVersion:
    """One definition a pipeline has had: CreatePipeline makes version 1, each UpdatePipeline
    the next."""

    id: int
    created: float
    definition: str


@dataclass(frozen=True)
class Pipeline:
    name: str
    arn: str
    definition: str  # the JSON text as given: DescribePipeline returns it unchanged
    role_arn: str
    display_name: str
    description: str
    created: float
    modified: float
    parallelism: int | None  # MaxParallelExecutionSteps
    last_run: float | None = None
    versions: tuple[PipelineVersion, ...] = ()

    def version(self, version_id: int | None) -> PipelineVersion:
        """A version by id (the latest for None); ResourceNotFound if it has no such one."""
        versions = self.versions or (PipelineVersion(1, self.created, self.definition),)
        if version_id is None:
            return versions[-1]
        for version in versions:
            if version.id == version_id:
                return version
        raise errors.ResourceNotFound(f"Pipeline {self.arn} has no version {version_id}.")


@dataclass(frozen=True)
class Execution:
    arn: str
    pipeline: str
    pipeline_arn: str
    status: ExecutionStatus
    definition: str  # the definition it runs: a later UpdatePipeline does not change it
    parameters: Mapping[str, Any]  # every parameter's value, defaults filled in, typed
    display_name: str
    description: str
    created: float
    modified: float
    parallelism: int | None
    failure_reason: str = ""
    version_id: int = 1
    #: The role its steps act for: the pipeline's RoleArn when it started.
    role_arn: str = ""
    #: The id of the key its steps act with while it runs (``_acting.py``); "" when ended.
    access_key: str = ""
    #: StartPipelineExecution's ClientRequestToken: the same token starts no second one.
    client_token: str = ""

    @property
    def id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class StepRun:
    """One step of one execution: its latest attempt."""

    execution_arn: str
    name: str
    type: str
    status: StepStatus
    attempt: int
    started: float
    ended: float | None = None
    job_name: str = ""  # the job, model or package this attempt made
    #: What later steps read through ``Steps.<name>...``: the job's Describe document, a
    #: Lambda's output parameters, a condition's outcome.
    properties: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)  # ListPipelineExecutionSteps'
    failure_reason: str = ""
    cache_key: str = ""  # a digest of the resolved arguments, for CacheConfig
    cache_source: str = ""  # the execution whose result this step reused
    retry_at: float = 0.0  # when a failed attempt that a retry policy covers runs again

"""A training job as a frozen record, with its lifecycle.

``status`` is the job's :class:`JobStatus`; ``transitions`` are its SecondaryStatusTransitions,
each a :class:`SecondaryStatus` with when it started and ended.  ``config`` is what
CreateTrainingJob asked for (AlgorithmSpecification, ResourceConfig, ...), validated and with
cove's defaults filled in; the properties read the members cove acts on.  Every change makes a
new record and goes through :meth:`TrainingJob.moved`, which refuses a move the lifecycle does
not allow.  DescribeTrainingJob's document is rendered from the record in ``_api.py`` only.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from cove.sagemaker import JobStatus

KIND = "training job"


class SecondaryStatus(enum.Enum):
    """``SecondaryStatus``: what a training job is doing inside its status."""

    STARTING = "Starting"
    LAUNCHING = "LaunchingMLInstances"
    PREPARING = "PreparingTrainingStack"
    DOWNLOADING = "Downloading"
    DOWNLOADING_IMAGE = "DownloadingTrainingImage"
    TRAINING = "Training"
    UPLOADING = "Uploading"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
    COMPLETED = "Completed"
    FAILED = "Failed"
    INTERRUPTED = "Interrupted"
    MAX_WAIT_TIME_EXCEEDED = "MaxWaitTimeExceeded"
    UPDATING = "Updating"
    RESTARTING = "Restarting"
    PENDING = "Pending"


@dataclass(frozen=True)
class Transition:
    """One SecondaryStatusTransitions entry; ``end`` is None while it lasts."""

    status: SecondaryStatus
    start: float
    message: str
    end: float | None = None


@dataclass(frozen=True)
class FinalMetric:
    name: str
    value: float
    timestamp: float


def frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class TrainingJob:
    name: str
    arn: str
    status: JobStatus
    transitions: tuple[Transition, ...]
    created: float
    modified: float
    #: The request's members DescribeTrainingJob echoes, validated, defaults filled in.
    config: Mapping[str, Any]
    started: float | None = None  # TrainingStartTime: the hosts began downloading
    ended: float | None = None
    failure_reason: str = ""
    model_artifacts: str = ""  # S3ModelArtifacts, once the model was uploaded
    final_metrics: tuple[FinalMetric, ...] = ()
    tuning_job_arn: str = ""

    # --- what cove reads of the request ----------------------------------------------------

    @property
    def status_value(self) -> str:
        return self.status.value

    @property
    def secondary_status(self) -> SecondaryStatus:
        return self.transitions[-1].status

    @property
    def algorithm(self) -> Mapping[str, Any]:
        return self.config["AlgorithmSpecification"]  # type: ignore[no-any-return]

    @property
    def image(self) -> str:
        return str(self.algorithm.get("TrainingImage", ""))

    @property
    def metric_definitions(self) -> list[dict[str, str]]:
        return list(self.algorithm.get("MetricDefinitions", []))

    @property
    def hyperparameters(self) -> dict[str, str]:
        return dict(self.config.get("HyperParameters", {}))

    @property
    def instance_type(self) -> str:
        return str(self.config["ResourceConfig"]["InstanceType"])

    @property
    def instance_count(self) -> int:
        return int(self.config["ResourceConfig"].get("InstanceCount", 1))

    @property
    def host_count(self) -> int:
        return self.instance_count

    @property
    def max_runtime(self) -> float | None:
        limit = self.config.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
        return float(limit) if limit else None

    @property
    def output_path(self) -> str:
        return str(self.config["OutputDataConfig"]["S3OutputPath"]).rstrip("/")

    @property
    def role_arn(self) -> str:
        return str(self.config.get("RoleArn", ""))

    @property
    def environment(self) -> dict[str, str]:
        return dict(self.config.get("Environment", {}))

    @property
    def channels(self) -> dict[str, dict[str, Any]]:
        return {c["ChannelName"]: dict(c) for c in self.config.get("InputDataConfig", [])}

    @property
    def waiting(self) -> bool:
        """Queued: InProgress and its hosts not started yet."""
        return (self.status is JobStatus.IN_PROGRESS
                and self.secondary_status is SecondaryStatus.STARTING)

    @property
    def training_seconds(self) -> int | None:
        if self.ended is None:
            return None
        return max(1, round(self.ended - (self.started or self.ended)))

    # --- changes ----------------------------------------------------------------------------

    def touched(self, now: float) -> TrainingJob:
        return replace(self, modified=now)

    def phase(self, secondary: SecondaryStatus, message: str, now: float) -> TrainingJob:
        """A running job's hosts reached ``secondary`` (a stopping or finished job stays)."""
        job = self
        if self.status is JobStatus.IN_PROGRESS:
            job = replace(self, transitions=_transition(self.transitions, secondary, message,
                                                        now))
        if secondary is SecondaryStatus.DOWNLOADING and job.started is None:
            job = replace(job, started=now)
        return job

    def moved(self, status: JobStatus, secondary: SecondaryStatus, message: str,
              now: float) -> TrainingJob:
        """The job in ``status`` (ValidationException if its lifecycle forbids that)."""
        return replace(self, status=self.status.check(status, KIND),
                       transitions=_transition(self.transitions, secondary, message, now))

    def finished(self, status: JobStatus, secondary: SecondaryStatus, message: str,
                 now: float, failure: str = "") -> TrainingJob:
        """The job ended: the final transition ends where it begins."""
        job = self.moved(status, secondary, message, now)
        last = job.transitions[-1]
        return replace(job, transitions=(*job.transitions[:-1], replace(last, end=last.start)),
                       ended=last.start, started=job.started or last.start,
                       failure_reason=failure or job.failure_reason)

    def waiting_for(self, message: str) -> TrainingJob:
        """The open Starting transition says what the job waits for."""
        last = self.transitions[-1]
        if last.status is not SecondaryStatus.STARTING or last.end is not None:
            return self
        return replace(self, transitions=(*self.transitions[:-1], replace(last, message=message)))


def _transition(transitions: tuple[Transition, ...], status: SecondaryStatus, message: str,
                now: float) -> tuple[Transition, ...]:
    if transitions and transitions[-1].status is status:
        return transitions
    closed = tuple(transitions[:-1]) + ((replace(transitions[-1], end=now),)
                                        if transitions else ())
    return (*closed, Transition(status, now, message))

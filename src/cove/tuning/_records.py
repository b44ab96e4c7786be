"""A hyperparameter tuning job as a frozen record, and the lifecycle of its trials.

The job's status is the :class:`~cove.sagemaker.JobStatus` every SageMaker job shares
(InProgress → (Stopping →) Completed | Failed | Stopped); :meth:`TuningJob.moved` refuses any
other move.  Each training job a tuning job launches is a :class:`Trial`, whose
:class:`TrialState` says what the search made of it::

    running ──→ complete   (its objective told to the study)
       ├─────→ pruned     (stopped early: Hyperband, or early stopping Auto)
       ├─────→ failed     (no objective)
       └─────→ retried    (died with cove or an internal error: the same point runs again)

``config`` is HyperParameterTuningJobConfig and ``definition`` TrainingJobDefinition, validated
with cove's defaults filled in; the properties read what the search acts on.
DescribeHyperParameterTuningJob's document is rendered from the record by ``_rows.dump``.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from cove import errors
from cove.lifecycles import Lifecycle, moves
from cove.sagemaker import JobStatus

KIND = "hyperparameter tuning job"


class TrialState(Lifecycle):
    RUNNING = "running"
    COMPLETE = "complete"
    PRUNED = "pruned"
    FAILED = "failed"
    RETRIED = "retried"

    def is_finished(self) -> bool:
        return self is not TrialState.RUNNING

    def counts(self) -> bool:
        """Counts against MaxNumberOfTrainingJobs (a retried trial's rerun counts instead)."""
        return self is not TrialState.RETRIED

    def refusal(self, other: TrialState, training_job: str) -> errors.CoveError:
        # Only cove moves trials: a refused move is cove's own fault.
        return errors.ServerError(
            f"the trial {training_job} is {self.value}; it cannot become {other.value}")


# A trial ends once, and never moves again.
_T = TrialState
moves(TrialState, {_T.RUNNING: frozenset({_T.COMPLETE, _T.PRUNED, _T.FAILED, _T.RETRIED}),
                   _T.COMPLETE: frozenset(), _T.PRUNED: frozenset(), _T.FAILED: frozenset(),
                   _T.RETRIED: frozenset()})


class ObjectiveStatus(enum.Enum):
    """A trial's ObjectiveStatus: whether its objective metric was (or may yet be) read."""

    SUCCEEDED = "Succeeded"
    PENDING = "Pending"
    FAILED = "Failed"


@dataclass(frozen=True)
class Trial:
    number: int
    training_job: str
    params: Mapping[str, Any]
    state: TrialState


def training_counters() -> dict[str, int]:
    """TrainingJobStatusCounters, all zero: a failed trial counts as a retryable or a
    non-retryable error, any other by its training job's status."""
    return {JobStatus.COMPLETED.value: 0, JobStatus.IN_PROGRESS.value: 0, "RetryableError": 0,
            "NonRetryableError": 0, JobStatus.STOPPED.value: 0}


@dataclass(frozen=True)
class TuningJob:
    name: str
    arn: str
    status: JobStatus
    created: float
    modified: float
    #: HyperParameterTuningJobConfig and TrainingJobDefinition, as validated.
    config: Mapping[str, Any]
    definition: Mapping[str, Any]
    training_counters: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType(training_counters()))
    objective_counters: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({s.value: 0 for s in ObjectiveStatus}))
    ended: float | None = None
    failure_reason: str = ""
    #: HyperParameterTrainingJobSummary documents of the best trial, here and with parents.
    best: Mapping[str, Any] | None = None
    overall_best: Mapping[str, Any] | None = None
    runtime_seconds: int | None = None  # ConsumedResources.RuntimeInSeconds
    autotune: Mapping[str, Any] | None = None
    warm_start: Mapping[str, Any] | None = None

    # --- what the search reads --------------------------------------------------------------

    @property
    def status_value(self) -> str:
        return self.status.value

    @property
    def objective(self) -> Mapping[str, Any]:
        return self.config["HyperParameterTuningJobObjective"]  # type: ignore[no-any-return]

    @property
    def metric(self) -> str:
        return str(self.objective["MetricName"])

    @property
    def minimize(self) -> bool:
        return bool(self.objective["Type"] == "Minimize")

    @property
    def strategy(self) -> str:
        return str(self.config["Strategy"])

    @property
    def limits(self) -> Mapping[str, Any]:
        return self.config["ResourceLimits"]  # type: ignore[no-any-return]

    @property
    def ranges(self) -> Mapping[str, Any]:
        return self.config["ParameterRanges"]  # type: ignore[no-any-return]

    @property
    def static_hyperparameters(self) -> dict[str, str]:
        return dict(self.definition.get("StaticHyperParameters", {}))

    @property
    def image(self) -> str | None:
        image = self.definition.get("AlgorithmSpecification", {}).get("TrainingImage")
        return str(image) if image is not None else None

    @property
    def parents(self) -> list[str]:
        """The warm-start parents' names."""
        return [str(p["HyperParameterTuningJobName"]) for p in (self.warm_start or {}).get(
            "ParentHyperParameterTuningJobs", [])]

    def elapsed(self, now: float) -> int:
        return int((self.ended if self.ended is not None else now) - self.created)

    # --- changes ----------------------------------------------------------------------------

    def touched(self, now: float) -> TuningJob:
        return replace(self, modified=now)

    def moved(self, status: JobStatus) -> TuningJob:
        """The job in ``status`` (ValidationException if its lifecycle forbids that)."""
        return replace(self, status=self.status.check(status, KIND))

    def stopping(self) -> TuningJob:
        """StopHyperParameterTuningJob: only an InProgress job can be stopped."""
        if self.status is not JobStatus.IN_PROGRESS:
            raise errors.ValidationError(
                f"The hyperparameter tuning job {self.name!r} is {self.status.value}; only an "
                f"{JobStatus.IN_PROGRESS.value} job can be stopped.")
        return self.moved(JobStatus.STOPPING)

    def ended_as(self, status: JobStatus, reason: str, now: float | None = None) -> TuningJob:
        """The job ended in ``status``; a Failed one says why (``reason``: cove's own error,
        else no trial reported the objective)."""
        now = time.time() if now is None else now
        job = replace(self.moved(status), ended=now, runtime_seconds=int(now - self.created))
        if status is JobStatus.FAILED:
            job = replace(job, failure_reason=reason if reason.startswith(
                "InternalServerError") else (
                f"No training job reported the objective metric {self.metric!r}: every "
                "training job failed or emitted no value for it. See the training jobs' "
                "FailureReason and logs."))
        return job

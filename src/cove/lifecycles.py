"""Every resource's lifecycle: the status enums, where each status may go, and what it means.

A status knows its allowed transitions (optuna's ``TrialState`` is the model): services ask
``can_become`` instead of comparing strings, and ``check`` refuses a move the lifecycle does not
allow with the error the API gives (:class:`Lifecycle`).  This module imports nothing of cove
but ``errors``, so the faces that are only API clients (the CLI) read statuses with these enums
too, without importing the services or the database.  Each component re-exports its own
(``cove.sagemaker.JobStatus``, ``cove.hosting.EndpointStatus``, ...).

Notebook instances, as SageMaker's (``NotebookInstanceStatus``)::

    Create / Start → Pending ──(JupyterLab answers)──→ InService ──Stop──→ Stopping → Stopped
                        └──(it does not)──→ Failed
    Delete (from Stopped or Failed) → Deleting → gone

After a restart, an instance that was Pending or InService starts again (Pending).  Work cove
could not do (start, stop, delete) ends the instance Failed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from cove import errors


class Lifecycle(enum.Enum):
    """A status that knows where it may go.  An enum's moves are given by :func:`moves` once it
    exists (the table names its members, so it cannot sit in the class body); ``check`` refuses
    any other move with :meth:`refusal`, the error of the API the lifecycle belongs to."""

    def can_become(self, other: Self) -> bool:
        return other in _MOVES[type(self)][self]

    def check(self, other: Self, subject: str) -> Self:
        if not self.can_become(other):
            raise self.refusal(other, subject)
        return other

    def refusal(self, other: Self, subject: str) -> errors.CoveError:
        """SageMaker's ValidationException, unless the lifecycle has its own error."""
        return errors.ValidationError(f"{subject} is {self.value}; it cannot become {other.value}.")


_L = TypeVar("_L", bound=Lifecycle)
_MOVES: dict[type[Lifecycle], Mapping[Any, frozenset[Lifecycle]]] = {}  # Any: keys are invariant


def moves(lifecycle: type[_L], table: Mapping[_L, frozenset[_L]]) -> None:
    """Give ``lifecycle`` its moves: each status, the statuses it may become.  Each status is
    named, so one added without its moves fails as the module is imported."""
    if missing := ", ".join(s.name for s in lifecycle if s not in table):
        raise TypeError(f"{lifecycle.__name__}'s moves must name each status (missing: {missing})")
    _MOVES[lifecycle] = table


# --- SageMaker jobs: training, processing, transform and tuning ------------------------------

class JobStatus(Lifecycle):
    """Training, processing, transform and tuning jobs: InProgress → (Stopping →) Completed |
    Failed | Stopped, and never back."""

    IN_PROGRESS = "InProgress"
    STOPPING = "Stopping"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"

    def is_finished(self) -> bool:
        return self in _FINISHED

    def is_running(self) -> bool:
        """Started or queued, and not yet ended (a Stopping job still has processes)."""
        return not self.is_finished()

    def refusal(self, other: JobStatus, kind: str) -> errors.CoveError:
        """The ValidationException SageMaker gives a request that would move a job (of ``kind``)
        that is already past it."""
        return errors.ValidationError(
            f"The request was rejected because the {kind} is in status {self.value}; "
            f"it cannot become {other.value}.")


_FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED})

moves(JobStatus, {
    # A job stopped by its MaxRuntimeInSeconds timer goes straight to Stopped.
    JobStatus.IN_PROGRESS: frozenset({JobStatus.STOPPING, JobStatus.COMPLETED, JobStatus.FAILED,
                                      JobStatus.STOPPED}),
    # A job that finishes while it is being stopped ends as it finished.
    JobStatus.STOPPING: frozenset({JobStatus.STOPPED, JobStatus.FAILED, JobStatus.COMPLETED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.STOPPED: frozenset(),
})


# --- endpoints ----------------------------------------------------------------------------------

class EndpointStatus(Lifecycle):
    OUT_OF_SERVICE = "OutOfService"
    CREATING = "Creating"
    UPDATING = "Updating"
    SYSTEM_UPDATING = "SystemUpdating"
    ROLLING_BACK = "RollingBack"
    IN_SERVICE = "InService"
    DELETING = "Deleting"
    FAILED = "Failed"
    UPDATE_ROLLBACK_FAILED = "UpdateRollbackFailed"

    def is_changing(self) -> bool:
        """Being created or updated: its configuration is in use and may not be deleted."""
        return self in (EndpointStatus.CREATING, EndpointStatus.UPDATING)

    def had_fleets(self) -> bool:
        """Serving, or starting fleets: after a restart such an endpoint deploys again."""
        return self in (EndpointStatus.IN_SERVICE, EndpointStatus.CREATING,
                        EndpointStatus.UPDATING, EndpointStatus.SYSTEM_UPDATING)

    def serves(self) -> bool:
        return self is EndpointStatus.IN_SERVICE


_S = EndpointStatus
moves(EndpointStatus, {
    # Deployed or failed; after a restart, whatever was serving deploys again (Creating).
    _S.CREATING: frozenset({_S.IN_SERVICE, _S.FAILED, _S.DELETING}),
    _S.IN_SERVICE: frozenset({_S.UPDATING, _S.OUT_OF_SERVICE, _S.DELETING, _S.CREATING}),
    # An update ends in service (done or rolled back) or failed (the rollback failed too).
    _S.UPDATING: frozenset({_S.IN_SERVICE, _S.FAILED, _S.DELETING, _S.CREATING}),
    _S.SYSTEM_UPDATING: frozenset({_S.IN_SERVICE, _S.CREATING, _S.DELETING}),
    _S.ROLLING_BACK: frozenset({_S.IN_SERVICE, _S.FAILED, _S.DELETING}),
    # Stopped when idle: UpdateEndpoint (or ``cove endpoints start``) starts it again.
    _S.OUT_OF_SERVICE: frozenset({_S.CREATING, _S.DELETING}),
    _S.FAILED: frozenset({_S.DELETING}),
    _S.UPDATE_ROLLBACK_FAILED: frozenset({_S.DELETING}),
    _S.DELETING: frozenset(),
})


# --- notebook instances -------------------------------------------------------------------------

class NotebookInstanceStatus(Lifecycle):
    PENDING = "Pending"
    IN_SERVICE = "InService"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FAILED = "Failed"
    DELETING = "Deleting"
    UPDATING = "Updating"

    def runs(self) -> bool:
        """Its JupyterLab is running or starting (the dashboard lists it)."""
        return self in (NotebookInstanceStatus.PENDING, NotebookInstanceStatus.IN_SERVICE,
                        NotebookInstanceStatus.STOPPING)

    def check(self, other: NotebookInstanceStatus, arn: str,
              allowed: tuple[NotebookInstanceStatus, ...] | None = None
              ) -> NotebookInstanceStatus:
        """``other``, if this status may become it (and is one of ``allowed``, the statuses a
        request may start from); else SageMaker's ValidationException."""
        if self.can_become(other) and (allowed is None or self in allowed):
            return other
        raise self.refusal(other, arn, allowed)

    def refusal(self, other: NotebookInstanceStatus, arn: str,
                allowed: tuple[NotebookInstanceStatus, ...] | None = None) -> errors.CoveError:
        starts = [s.value for s in allowed or (s for s in NotebookInstanceStatus
                                               if s.can_become(other))]
        return errors.ValidationError(
            f"Status ({self.value}) not in ([{', '.join(starts)}]). Unable to transition to "
            f"({other.value}) for Notebook Instance ({arn}).")


_N = NotebookInstanceStatus
moves(NotebookInstanceStatus, {
    # Pending → Pending: a restart launches it again.
    _N.PENDING: frozenset({_N.IN_SERVICE, _N.FAILED, _N.PENDING}),
    _N.IN_SERVICE: frozenset({_N.STOPPING, _N.FAILED, _N.PENDING}),
    _N.STOPPING: frozenset({_N.STOPPED, _N.FAILED}),
    _N.STOPPED: frozenset({_N.PENDING, _N.DELETING}),
    _N.FAILED: frozenset({_N.PENDING, _N.DELETING}),
    _N.DELETING: frozenset({_N.FAILED}),
    _N.UPDATING: frozenset({_N.STOPPED, _N.FAILED}),
})

#: The statuses each request starts from (StartNotebookInstance, Stop..., Delete...).
START_FROM = (_N.STOPPED, _N.FAILED)
STOP_FROM = (_N.IN_SERVICE,)
DELETE_FROM = (_N.STOPPED, _N.FAILED)


# --- pipelines ----------------------------------------------------------------------------------

class PipelineStatus(enum.Enum):
    """A pipeline's PipelineStatus: Active until DeletePipeline."""

    ACTIVE = "Active"
    DELETING = "Deleting"


class ExecutionStatus(Lifecycle):
    EXECUTING = "Executing"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FAILED = "Failed"
    SUCCEEDED = "Succeeded"

    def is_finished(self) -> bool:
        return self in (ExecutionStatus.STOPPED, ExecutionStatus.FAILED,
                        ExecutionStatus.SUCCEEDED)


moves(ExecutionStatus, {
    ExecutionStatus.EXECUTING: frozenset({ExecutionStatus.STOPPING, ExecutionStatus.FAILED,
                                          ExecutionStatus.SUCCEEDED}),
    ExecutionStatus.STOPPING: frozenset({ExecutionStatus.STOPPED, ExecutionStatus.FAILED,
                                         ExecutionStatus.SUCCEEDED}),
    # RetryPipelineExecution runs a failed or stopped execution's unfinished steps again.
    ExecutionStatus.FAILED: frozenset({ExecutionStatus.EXECUTING}),
    ExecutionStatus.STOPPED: frozenset({ExecutionStatus.EXECUTING}),
    ExecutionStatus.SUCCEEDED: frozenset(),
})


class StepStatus(enum.Enum):
    STARTING = "Starting"
    EXECUTING = "Executing"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FAILED = "Failed"
    SUCCEEDED = "Succeeded"

    def is_finished(self) -> bool:
        return self in (StepStatus.STOPPED, StepStatus.FAILED, StepStatus.SUCCEEDED)

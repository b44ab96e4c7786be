"""The lifecycle SageMaker's jobs share: training, processing, transform and tuning jobs all
move InProgress → (Stopping →) Completed | Failed | Stopped, and never back.

A status is an enum that knows where it may go (optuna's ``TrialState`` is the model): the
services ask ``can_become`` instead of comparing strings, and :meth:`JobStatus.check` refuses a
move the lifecycle does not allow, with the error StopXxxJob answers on a finished job.
"""

from __future__ import annotations

import enum

from cove import errors


class JobStatus(enum.Enum):
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

    def can_become(self, other: JobStatus) -> bool:
        return other in _NEXT[self]

    def check(self, other: JobStatus, kind: str) -> JobStatus:
        """``other`` if this status may become it; else the ValidationException SageMaker
        gives a request that would move a job that is already past it."""
        if not self.can_become(other):
            raise errors.ValidationError(
                f"The request was rejected because the {kind} is in status {self.value}; "
                f"it cannot become {other.value}.")
        return other


_FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED})

_NEXT: dict[JobStatus, frozenset[JobStatus]] = {
    # A job stopped by its MaxRuntimeInSeconds timer goes straight to Stopped.
    JobStatus.IN_PROGRESS: frozenset({JobStatus.STOPPING, JobStatus.COMPLETED, JobStatus.FAILED,
                                      JobStatus.STOPPED}),
    # A job that finishes while it is being stopped ends as it finished.
    JobStatus.STOPPING: frozenset({JobStatus.STOPPED, JobStatus.FAILED, JobStatus.COMPLETED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.STOPPED: frozenset(),
}

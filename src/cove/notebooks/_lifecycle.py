"""The notebook instance lifecycle, as SageMaker's::

    Create / Start → Pending ──(JupyterLab answers)──→ InService ──Stop──→ Stopping → Stopped
                        └──(it does not)──→ Failed
    Delete (from Stopped or Failed) → Deleting → gone

A status knows where it may go (:meth:`NotebookInstanceStatus.can_become`); the service moves
an instance only through :meth:`NotebookInstanceStatus.check`, which refuses any other move with
SageMaker's message.  After a restart, an instance that was Pending or InService starts again
(Pending).  Work cove could not do (start, stop, delete) ends the instance Failed.
"""

from __future__ import annotations

import enum

from cove import errors


class NotebookInstanceStatus(enum.Enum):
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

    def can_become(self, other: NotebookInstanceStatus) -> bool:
        return other in _NEXT[self]

    def check(self, other: NotebookInstanceStatus, arn: str,
              allowed: tuple[NotebookInstanceStatus, ...] | None = None
              ) -> NotebookInstanceStatus:
        """``other``, if this status may become it (and is one of ``allowed``, the statuses a
        request may start from); else SageMaker's ValidationException."""
        if self.can_become(other) and (allowed is None or self in allowed):
            return other
        starts = [s.value for s in (allowed or _FROM[other])]
        raise errors.ValidationError(
            f"Status ({self.value}) not in ([{', '.join(starts)}]). Unable to transition to "
            f"({other.value}) for Notebook Instance ({arn}).")


_N = NotebookInstanceStatus
_NEXT: dict[NotebookInstanceStatus, frozenset[NotebookInstanceStatus]] = {
    # Pending → Pending: a restart launches it again.
    _N.PENDING: frozenset({_N.IN_SERVICE, _N.FAILED, _N.PENDING}),
    _N.IN_SERVICE: frozenset({_N.STOPPING, _N.FAILED, _N.PENDING}),
    _N.STOPPING: frozenset({_N.STOPPED, _N.FAILED}),
    _N.STOPPED: frozenset({_N.PENDING, _N.DELETING}),
    _N.FAILED: frozenset({_N.PENDING, _N.DELETING}),
    _N.DELETING: frozenset({_N.FAILED}),
    _N.UPDATING: frozenset({_N.STOPPED, _N.FAILED}),
}
_FROM = {target: tuple(s for s in _N if target in _NEXT[s]) for target in _N}

#: The statuses each request starts from (StartNotebookInstance, Stop..., Delete...).
START_FROM = (_N.STOPPED, _N.FAILED)
STOP_FROM = (_N.IN_SERVICE,)
DELETE_FROM = (_N.STOPPED, _N.FAILED)

"""The notebook instance lifecycle, as SageMaker's (defined in :mod:`cove.lifecycles`, where the
CLI reads it too)::

    Create / Start → Pending ──(JupyterLab answers)──→ InService ──Stop──→ Stopping → Stopped
                        └──(it does not)──→ Failed
    Delete (from Stopped or Failed) → Deleting → gone

A status knows where it may go (:meth:`NotebookInstanceStatus.can_become`); the service moves
an instance only through :meth:`NotebookInstanceStatus.check`, which refuses any other move with
SageMaker's message.  After a restart, an instance that was Pending or InService starts again
(Pending).  Work cove could not do (start, stop, delete) ends the instance Failed.
"""

from __future__ import annotations

from cove.lifecycles import DELETE_FROM, START_FROM, STOP_FROM, NotebookInstanceStatus

__all__ = ["DELETE_FROM", "START_FROM", "STOP_FROM", "NotebookInstanceStatus"]

"""The lifecycle SageMaker's jobs share: training, processing, transform and tuning jobs all
move InProgress → (Stopping →) Completed | Failed | Stopped, and never back.  The enum lives with
every other lifecycle in :mod:`cove.lifecycles` (the CLI reads it without the services)."""

from __future__ import annotations

from cove.lifecycles import JobStatus

__all__ = ["JobStatus"]

"""Executors run the work of jobs (``local``: threads and subprocesses here; ``ray``: actors on
a Ray cluster); sandboxes confine the processes they start."""

from __future__ import annotations

from cove.executors._base import (
    Event,
    Executor,
    HostLost,
    HostRun,
    HostWork,
    Reservation,
    Resources,
)
from cove.executors._confinement import runtime_paths
from cove.executors._local import LocalExecutor
from cove.executors._quotas import Quota, exceeded, quota_for
from cove.executors._resources import (
    INSTANCE_TYPES,
    describe_resources,
    instance_resources,
    map_instance_types,
    parse_instance_types,
)
from cove.executors._sandbox import (
    Bubblewrap,
    MissingSandbox,
    PlainProcess,
    ProcessSpec,
    Sandbox,
    choose_sandbox,
    describe,
    hand_over,
    kill,
)


def open_executor(kind: str, ray_address: str = "", slots: int | None = None,
                  stop_grace: float = 30.0) -> Executor:
    """The executor ``COVE_EXECUTOR`` names: ``local`` (default) or ``ray``."""
    if kind == "local":
        return LocalExecutor(slots)
    if kind == "ray":
        from cove.executors._ray import RayExecutor

        return RayExecutor(ray_address, stop_grace)
    from cove import errors

    raise errors.ServerError(f"COVE_EXECUTOR must be local or ray, not {kind!r}")


__all__ = ["INSTANCE_TYPES", "Bubblewrap", "Event", "Executor", "HostLost", "HostRun",
           "HostWork", "LocalExecutor", "MissingSandbox", "PlainProcess", "ProcessSpec",
           "Quota", "Reservation", "Resources", "Sandbox", "choose_sandbox", "describe",
           "describe_resources", "exceeded", "hand_over", "instance_resources", "kill",
           "map_instance_types", "open_executor", "parse_instance_types", "quota_for",
           "runtime_paths"]

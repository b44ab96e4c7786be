"""The executor interface: where the work of jobs runs.

An executor runs *host routines* (one training host, later a model worker) somewhere — threads
on this machine, or actors on a Ray cluster — and hands back a handle.  It owns processes and
threads, never state: the caller records every outcome in the metadata database.

A routine that must run on another machine is given as ``HostWork``: a picklable object whose
``run`` builds everything it needs where it runs (its job directory, its data through cove's S3
API) and reports through the events sink it is given.  ``Executor.shares_disk`` says whether
the routine's files may live on cove's own disk (local) or not (ray): the caller picks the data
plane from it, never from the executor's name.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

#: One report from a running routine: (method name, positional arguments), e.g.
#: ``("log", ("algo-1", ["line"]))``; the caller replays it on its own events object.
Event = tuple[str, tuple[Any, ...]]


class HostLost(Exception):  # noqa: N818 - the name says what happened
    """The place a routine ran on went away (a Ray node or actor died); ``node`` names it."""

    def __init__(self, node: str, detail: str) -> None:
        super().__init__(f"{node}: {detail}")
        self.node, self.detail = node, detail


@dataclass(frozen=True)
class Resources:
    """What one host needs, from its instance type (see ``instance_resources``)."""

    cpus: float
    memory_bytes: int
    gpus: float = 0.0


class HostWork(Protocol):
    """A routine an executor may ship elsewhere: picklable, self-contained."""

    def run(self, events: Callable[[Event], None]) -> Any:
        """Do the work, reporting as it goes; the return value is the routine's result."""
        ...

    def stop(self, reason: str) -> None:
        """Ask the running routine to end (it still returns a result)."""
        ...


class HostRun(Protocol):
    """A started ``HostWork``."""

    def result(self) -> Any:
        """Block until the routine ends; its result, its exception, or ``HostLost``."""
        ...

    def done(self) -> bool:
        """Whether the routine has ended (``result`` would not block)."""
        ...

    def stop(self, reason: str) -> None: ...


class Reservation(Protocol):
    def release(self) -> None: ...


class Executor(Protocol):
    name: str
    #: Whether routines run on this machine and may use cove's data directory directly.
    shares_disk: bool

    def slots(self) -> int:
        """How many host routines may run at once."""
        ...

    def submit(self, routine: Callable[[], T]) -> Future[T]:
        """Start ``routine`` on a thread of this process (coordination work of a job)."""
        ...

    def reserve(self, hosts: list[Resources]) -> Reservation:
        """Hold room for all the hosts of a multi-host job at once (one bundle per host), so
        none starts before all can; ``release`` it when the job ends."""
        ...

    def start(self, work: HostWork, resources: Resources, events: Callable[[Event], None],
              reservation: Any = None, index: int = 0, lasting: bool = False) -> HostRun:
        """Start one host of a job, inside ``reservation`` (at bundle ``index``) if given;
        ``lasting`` work serves until stopped (a model worker) rather than ending on its own.
        ``events`` is called on a thread of this process with each report of the work, and
        with ``("placed", (where,))`` first when the executor chose a machine for it."""
        ...

    def infeasible(self, resources: Resources) -> str:
        """Why no node could ever run a host needing ``resources`` ("" when one could, or
        when the executor does not place by resources)."""
        ...

    def describe(self) -> dict[str, Any]:
        """What ``cove status`` shows: the executor and, for a cluster, its nodes."""
        ...

    def shutdown(self) -> None: ...

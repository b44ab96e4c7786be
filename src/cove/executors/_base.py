"""The executor interface: where the work of jobs runs.

An executor runs *host routines* (one training host, later a model worker) somewhere — threads
on this machine, or tasks on a Ray cluster — and hands back a handle.  It owns processes and
threads, never state: the caller records every outcome in the metadata database.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Protocol, TypeVar

T = TypeVar("T")


class Executor(Protocol):
    name: str

    def slots(self) -> int:
        """How many host routines may run at once."""
        ...

    def submit(self, routine: Callable[[], T]) -> Future[T]:
        """Start ``routine``; the future holds its result or the exception it raised."""
        ...

    def shutdown(self) -> None: ...

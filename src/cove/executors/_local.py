"""The local executor: host routines on threads of this process, their processes on this
machine."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from cove.executors._base import Event, HostWork, Resources

T = TypeVar("T")


class LocalExecutor:
    name = "local"
    shares_disk = True

    def __init__(self, slots: int | None = None) -> None:
        self._slots = slots or max(2, os.cpu_count() or 2)
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="cove-host")

    def slots(self) -> int:
        return self._slots

    def submit(self, routine: Callable[[], T]) -> Future[T]:
        return self._pool.submit(routine)

    def reserve(self, hosts: list[Resources]) -> LocalReservation:
        return LocalReservation()

    def start(self, work: HostWork, resources: Resources, events: Callable[[Event], None],
              reservation: Any = None, index: int = 0, lasting: bool = False) -> LocalRun:
        return LocalRun(work, self._pool.submit(work.run, events))

    def infeasible(self, resources: Resources) -> str:
        return ""  # one machine, counted in slots: an instance type's size is not checked

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "slots": self._slots}

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class LocalRun:
    def __init__(self, work: HostWork, future: Future[Any]) -> None:
        self.work, self.future = work, future

    def result(self) -> Any:
        return self.future.result()

    def done(self) -> bool:
        return self.future.done()

    def stop(self, reason: str) -> None:
        self.work.stop(reason)


class LocalReservation:
    """Slots are counted by the job queue before a job starts: nothing more to hold here."""

    def release(self) -> None:
        return None

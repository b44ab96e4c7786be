"""The local executor: host routines on threads of this process, their processes on this
machine."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class LocalExecutor:
    name = "local"

    def __init__(self, slots: int | None = None) -> None:
        self._slots = slots or max(2, os.cpu_count() or 2)
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="cove-host")

    def slots(self) -> int:
        return self._slots

    def submit(self, routine: Callable[[], T]) -> Future[T]:
        return self._pool.submit(routine)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

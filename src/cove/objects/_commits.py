"""Group commit: the index writes of concurrent requests share one transaction.

Each PUT's blob is already durable (fsynced by its own thread) when its row is written; what
concurrent PUTs would otherwise each pay is a transaction of their own, queued behind SQLite's
single write lock (whose busy handler sleeps 1, 2, 5... ms between tries).  Here the first
request to arrive becomes the leader and writes every row queued meanwhile, each in a
savepoint of one transaction, so one request's refusal (a failed precondition, a bucket that
went away) undoes its own row only.  Nobody is answered before the transaction commits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import Connection

from cove.meta import Database

T = TypeVar("T")


class _Work(Generic[T]):
    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.value: T | None = None
        self.error: BaseException | None = None
        self.done = False

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # set when no error


class GroupCommit:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: list[_Work[object]] = []
        self._queue_lock = threading.Lock()
        self._leader = threading.Lock()  # one batch commits at a time
        self.batches = 0  # transactions committed (for tests and benchmarks)

    def run(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` inside a shared write transaction; returns once that commits.

        ``work`` must raise before it writes anything it would not want undone, or rely on its
        savepoint: a raise rolls back its own statements only, and is raised here.
        """
        item: _Work[T] = _Work(work)
        with self._queue_lock:
            self._queue.append(item)  # type: ignore[arg-type]
        with self._leader:
            if not item.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        return item.outcome()

    def _commit(self, batch: list[_Work[object]]) -> None:
        try:
            with self.db.write() as conn:
                if len(batch) == 1:
                    # alone, its transaction is its savepoint (a raise rolls back its own
                    # statements only); two statements fewer per sequential PUT
                    batch[0].value = batch[0].work(conn)
                else:
                    self._each_in_a_savepoint(conn, batch)
            self.batches += 1
        except BaseException as exc:  # the commit itself failed: nothing was written
            for item in batch:
                item.error = item.error or exc
            raise
        finally:
            for item in batch:
                item.done = True

    @staticmethod
    def _each_in_a_savepoint(conn: Connection, batch: list[_Work[object]]) -> None:
        for item in batch:
            try:
                with conn.begin_nested():
                    item.value = item.work(conn)
            except Exception as exc:  # noqa: BLE001 - raised again in its own request
                item.error = exc

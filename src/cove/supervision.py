"""Background work that outlives its failures.

A loop that flushes counters, logs or captures runs for the life of the server; one bad turn
(a deleted bucket, a locked database) must neither end it silently nor fill the log.
:class:`FailureLog` runs one turn, logs a failure with its traceback the first time it is seen,
stays quiet while the same failure repeats, and says when the work recovers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("cove.supervision")


class FailureLog:
    """Runs turns of one piece of background work (``what``) and reports distinct failures."""

    def __init__(self, what: str, logger: logging.Logger = log) -> None:
        self.what = what
        self.logger = logger
        self.last: tuple[str, str] | None = None
        self.repeats = 0
        self.failures = 0

    def run(self, work: Callable[[], None]) -> bool:
        """One turn of ``work``; False if it raised (logged once per distinct failure)."""
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - a supervisor: logged, counted, loop goes on
            self._failed(exc)
            return False
        if self.last is not None:
            self.logger.warning("%s works again (after %d failed turn(s))", self.what,
                                self.repeats + 1)
            self.last, self.repeats = None, 0
        return True

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        key = (type(exc).__name__, str(exc))
        if key == self.last:
            self.repeats += 1
            return
        self.last, self.repeats = key, 0
        self.logger.error("%s failed (it goes on; logged once until it changes): %s: %s",
                          self.what, key[0], key[1], exc_info=exc)


async def every(seconds: float, work: Callable[[], None], what: str) -> None:
    """Run ``work`` in a worker thread every ``seconds`` until cancelled, whatever it raises."""
    failures = FailureLog(what)
    while True:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(failures.run, work)

"""Function log lines, written in batches.

An invocation's START/END/REPORT lines are worth a database transaction only together with
others: one commit per invocation cost the gateway path about a millisecond of the server's CPU.
Lines wait here at most ``interval`` seconds and go to the log store in one transaction per
flush (CloudWatch, too, shows a function's lines a moment after the invocation).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

log = logging.getLogger("cove.functions")

Writer = Callable[[str, str, Sequence[tuple[int, str]]], None]


class LogBuffer:
    def __init__(self, write: Writer, interval: float = 0.2) -> None:
        self.write = write
        self.interval = interval
        self._pending: dict[tuple[str, str], list[tuple[int, str]]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="cove-function-logs")
        self._thread.start()

    def add(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        with self._lock:
            self._pending.setdefault((group, stream), []).extend(events)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for (group, stream), events in pending.items():
            try:
                self.write(group, stream, events)
            except Exception:  # a full disk must not stop the functions; say so loudly
                log.exception("could not write %d log line(s) of %s", len(events), group)

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(10)
        self.flush()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self.flush()

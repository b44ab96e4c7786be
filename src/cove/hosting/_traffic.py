"""Endpoint traffic over time: requests, errors and latency per variant in 10-second buckets.

The invocation path only adds to an in-memory tally (one lock, a few additions); the server's
1-second flush task merges the tally into ``endpoint_traffic`` rows.  Latency is kept as a
histogram over fixed bounds, so buckets — and any window of them — merge exactly and the
console reads p50/p99 off the merged histogram.
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, delete, insert, select, update

from cove.meta import Database
from cove.meta.tables import endpoint_traffic

BUCKET_SECONDS = 10.0
#: Upper bounds (milliseconds) of the latency histogram's buckets: 0.1 ms growing by 1.5x to
#: about a minute; one more bucket counts anything slower.
LATENCY_BOUNDS = tuple(round(0.1 * 1.5 ** k, 4) for k in range(34))
#: Rows older than this are pruned (checked once a minute).
RETENTION_SECONDS = 7 * 86400.0


@dataclass
class Tally:
    invocations: int = 0
    errors: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS) + 1))

    def add(self, seconds: float, ok: bool) -> None:
        self.invocations += 1
        self.errors += 0 if ok else 1
        self.latency[bisect.bisect_left(LATENCY_BOUNDS, seconds * 1000.0)] += 1


class Traffic:
    """Per-variant traffic of every endpoint: recorded in memory, flushed to the database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, float], Tally] = {}
        self._pruned = 0.0

    def record(self, endpoint: str, variant: str, seconds: float, ok: bool) -> None:
        start = time.time() // BUCKET_SECONDS * BUCKET_SECONDS
        with self._lock:
            tally = self._pending.get((endpoint, variant, start))
            if tally is None:
                tally = self._pending[(endpoint, variant, start)] = Tally()
            tally.add(seconds, ok)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        if pending:
            with self.db.write() as conn:
                for key, tally in pending.items():
                    _merge(conn, key, tally)
        if time.time() - self._pruned > 60:
            self._pruned = time.time()
            with self.db.write() as conn:
                conn.execute(delete(endpoint_traffic).where(
                    endpoint_traffic.c.start < self._pruned - RETENTION_SECONDS))

    def forget(self, endpoint: str) -> None:
        """An endpoint was deleted: a new one of the same name starts with no history."""
        with self._lock:
            self._pending = {k: v for k, v in self._pending.items() if k[0] != endpoint}
        with self.db.write() as conn:
            conn.execute(delete(endpoint_traffic).where(endpoint_traffic.c.endpoint == endpoint))

    def series(self, endpoint: str, since: float = 0.0) -> list[dict[str, Any]]:
        """The endpoint's buckets from ``since`` on, oldest first, each with p50/p99 (ms)."""
        c = endpoint_traffic.c
        with self.db.read() as conn:
            rows = conn.execute(select(endpoint_traffic).where(
                and_(c.endpoint == endpoint, c.start >= since)).order_by(c.start, c.variant)).all()
        return [{"variant": r.variant, "start": r.start, "invocations": r.invocations,
                 "errors": r.errors, "p50": percentile(r.latency, 0.50),
                 "p99": percentile(r.latency, 0.99)} for r in rows]


def _merge(conn: Any, key: tuple[str, str, float], tally: Tally) -> None:
    endpoint, variant, start = key
    c = endpoint_traffic.c
    where = and_(c.endpoint == endpoint, c.variant == variant, c.start == start)
    row = conn.execute(select(endpoint_traffic).where(where)).first()
    if row is None:
        conn.execute(insert(endpoint_traffic).values(
            endpoint=endpoint, variant=variant, start=start, invocations=tally.invocations,
            errors=tally.errors, latency=tally.latency))
        return
    conn.execute(update(endpoint_traffic).where(where).values(
        invocations=row.invocations + tally.invocations, errors=row.errors + tally.errors,
        latency=[a + b for a, b in zip(row.latency, tally.latency, strict=True)]))


def percentile(histogram: list[int], q: float) -> float | None:
    """The upper bound (ms) of the bucket holding the ``q`` quantile; None with no requests."""
    total = sum(histogram)
    if not total:
        return None
    rank, seen = q * total, 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank and count:
            return LATENCY_BOUNDS[min(index, len(LATENCY_BOUNDS) - 1)]
    return LATENCY_BOUNDS[-1]

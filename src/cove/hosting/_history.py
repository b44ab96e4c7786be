"""Each endpoint's deployment history: which configuration it ran, when, and what changed.

DescribeEndpoint only names the current configuration; the console shows the sequence
(created, InService, updated to another configuration or rolled back, weights changed,
stopped), one row per event in ``endpoint_events``.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, insert, select

from cove.meta import Database
from cove.meta.tables import endpoint_events


class History:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, endpoint: str, event: str, config_name: str, detail: str = "") -> None:
        with self.db.write() as conn:
            conn.execute(insert(endpoint_events).values(
                endpoint=endpoint, time=time.time(), event=event, config_name=config_name,
                detail=detail))

    def events(self, endpoint: str) -> list[dict[str, Any]]:
        """The endpoint's events, oldest first."""
        c = endpoint_events.c
        with self.db.read() as conn:
            rows = conn.execute(select(endpoint_events).where(c.endpoint == endpoint)
                                .order_by(c.id)).all()
        return [{"time": r.time, "event": r.event, "config_name": r.config_name,
                 "detail": r.detail} for r in rows]

    def forget(self, endpoint: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(endpoint_events).where(endpoint_events.c.endpoint == endpoint))

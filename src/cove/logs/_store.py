"""Log groups, streams and events in the metadata database: the writer and reader API.

Events of a stream are ordered by ``(timestamp, event id)``; the id is the row's autoincrement
key, so events with equal timestamps keep their arrival order.  A :class:`Position` names a
place in that order, which is all a continuation token needs to hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)

from cove.logs._errors import (
    ResourceAlreadyExistsException,
    group_not_found,
    stream_not_found,
)
from cove.meta import Database
from cove.meta.tables import log_events, log_groups, log_streams

#: At most this many events per GetLogEvents / FilterLogEvents page, as AWS.
MAX_EVENTS = 10_000
#: ... and at most this many bytes of events (message bytes + 26 each, AWS's accounting).
MAX_PAGE_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
#: FilterLogEvents reads at most this many events per call, then hands back a token.
MAX_SCANNED_EVENTS = 200_000
_SCAN_CHUNK = 2_000
_NO_EVENT = -1  # sort value of a stream without events when ordering by last event time


@dataclass(frozen=True, order=True)
class Position:
    """A place in a stream's event order: ``(timestamp, event id)``."""

    timestamp: int
    event_id: int


#: Before every event / after every event.
START = Position(-(2**63), 0)
END = Position(2**63 - 1, 2**63 - 1)


@dataclass(frozen=True)
class Cursor:
    """Where a GetLogEvents page starts: strictly after ``position`` reading forward, strictly
    before it reading backward."""

    position: Position
    forward: bool


@dataclass(frozen=True)
class LogEvent:
    stream: str
    timestamp: int
    message: str
    ingestion_time: int
    event_id: int

    @property
    def position(self) -> Position:
        return Position(self.timestamp, self.event_id)

    @property
    def cost(self) -> int:
        return len(self.message.encode("utf-8", "surrogatepass")) + EVENT_OVERHEAD_BYTES


@dataclass(frozen=True)
class LogGroupInfo:
    name: str
    created: int  # epoch milliseconds
    stored_bytes: int


@dataclass(frozen=True)
class LogStreamInfo:
    group: str
    name: str
    created: int
    first_event: int | None
    last_event: int | None
    last_ingestion: int | None
    stored_bytes: int

    def sort_key(self, by_last_event: bool) -> tuple[int, str]:
        """Where this stream sits in a DescribeLogStreams listing (what a token holds)."""
        if not by_last_event:
            return (0, self.name)
        return (_NO_EVENT if self.last_event is None else self.last_event, self.name)


@dataclass(frozen=True)
class EventPage:
    """One GetLogEvents page and where to continue either way."""

    events: list[LogEvent]
    forward: Cursor
    backward: Cursor


@dataclass(frozen=True)
class FilterPage:
    """One FilterLogEvents page: the matches, the streams searched, where the next page starts
    (``None`` when every event in range was searched)."""

    events: list[LogEvent]
    streams: list[str]
    next: Position | None


class LogStore:
    """CloudWatch Logs' data in the metadata database.

    Writers (training jobs, endpoints, functions) call :meth:`put_events`; the Logs API reads
    with the query methods.  Raises :class:`ResourceNotFoundException` for a missing group or
    stream and :class:`ResourceAlreadyExistsException` on creating one that exists.
    ``clock`` gives seconds since the epoch (creation and ingestion times).
    """

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def _now(self) -> int:
        return int(self.clock() * 1000)

    # --- groups and streams -----------------------------------------------------------------

    def create_group(self, name: str) -> None:
        with self.db.write() as conn:
            if _group_exists(conn, name):
                raise ResourceAlreadyExistsException("The specified log group already exists")
            conn.execute(insert(log_groups).values(name=name, created=self._now()))

    def create_stream(self, group: str, name: str) -> None:
        with self.db.write() as conn:
            if not _group_exists(conn, group):
                raise group_not_found()
            if _stream_row(conn, group, name) is not None:
                raise ResourceAlreadyExistsException("The specified log stream already exists")
            conn.execute(insert(log_streams).values(group_name=group, name=name,
                                                    created=self._now(), stored_bytes=0))

    def delete_group(self, name: str) -> None:
        """Delete the group with its streams and events."""
        with self.db.write() as conn:
            if conn.execute(delete(log_groups).where(log_groups.c.name == name)).rowcount == 0:
                raise group_not_found()
            conn.execute(delete(log_streams).where(log_streams.c.group_name == name))
            conn.execute(delete(log_events).where(log_events.c.group_name == name))

    def describe_groups(self, prefix: str = "", contains: str = "", after: str | None = None,
                        limit: int = 50) -> tuple[list[LogGroupInfo], bool]:
        """Groups by name: starting with ``prefix``, containing ``contains`` (ignoring case),
        after the name ``after``.  Returns (up to ``limit`` groups, whether more follow)."""
        stored = (select(func.coalesce(func.sum(log_streams.c.stored_bytes), 0))
                  .where(log_streams.c.group_name == log_groups.c.name).scalar_subquery())
        query = select(log_groups.c.name, log_groups.c.created, stored.label("stored"))
        if prefix:
            query = query.where(_starts_with(log_groups.c.name, prefix))
        if contains:
            query = query.where(func.lower(log_groups.c.name).contains(contains.lower(),
                                                                        autoescape=True))
        if after is not None:
            query = query.where(log_groups.c.name > after)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(log_groups.c.name).limit(limit + 1)).all()
        return [LogGroupInfo(r.name, r.created, r.stored) for r in rows[:limit]], \
            len(rows) > limit

    def describe_streams(self, group: str, prefix: str = "", by_last_event: bool = False,
                         descending: bool = False, after: tuple[int, str] | None = None,
                         limit: int = 50) -> tuple[list[LogStreamInfo], bool]:
        """Streams of ``group`` by name or by last event time; ``after`` is the
        :meth:`LogStreamInfo.sort_key` of the previous page's last stream.  Returns (up to
        ``limit`` streams, whether more follow)."""
        c = log_streams.c
        key: list[ColumnElement[Any]] = [c.name]
        if by_last_event:
            key.insert(0, func.coalesce(c.last_event, _NO_EVENT))
        query = select(log_streams).where(c.group_name == group)
        if prefix:
            query = query.where(_starts_with(c.name, prefix))
        if after is not None:
            mark = tuple_(*key)
            bound = tuple_(*[literal(v) for v in (after if by_last_event else after[1:])])
            query = query.where(mark < bound if descending else mark > bound)
        query = query.order_by(*[k.desc() if descending else k.asc() for k in key])
        with self.db.read() as conn:
            if not _group_exists(conn, group):
                raise group_not_found()
            rows = conn.execute(query.limit(limit + 1)).all()
        return [_stream_info(r) for r in rows[:limit]], len(rows) > limit

    # --- events -----------------------------------------------------------------------------

    def put_events(self, group: str, stream: str, events: Sequence[tuple[int, str]], *,
                   create: bool = True) -> None:
        """Append ``(timestamp ms, message)`` events to a stream in one transaction.

        With ``create`` (the default) a missing group and stream are created; without it
        (the PutLogEvents API) they raise :class:`ResourceNotFoundException`.
        """
        if not events:
            return
        now = self._now()
        stamps = [ts for ts, _ in events]
        size = sum(len(m.encode("utf-8", "surrogatepass")) for _, m in events)
        rows = [{"group_name": group, "stream_name": stream, "timestamp": ts,
                 "ingestion_time": now, "message": m} for ts, m in events]
        with self.db.write() as conn:
            if not _touch_stream(conn, group, stream, min(stamps), max(stamps), now, size):
                self._add_stream(conn, group, stream, create, now)
                _touch_stream(conn, group, stream, min(stamps), max(stamps), now, size)
            conn.execute(_INSERT_EVENTS, rows)

    def _add_stream(self, conn: Connection, group: str, stream: str, create: bool,
                    now: int) -> None:
        if not _group_exists(conn, group):
            if not create:
                raise group_not_found()
            conn.execute(insert(log_groups).values(name=group, created=now))
        elif not create:
            raise stream_not_found()
        conn.execute(insert(log_streams).values(group_name=group, name=stream, created=now,
                                                stored_bytes=0))

    def get_events(self, group: str, stream: str, cursor: Cursor, start: int | None = None,
                   end: int | None = None, limit: int = MAX_EVENTS) -> EventPage:
        """Up to ``limit`` events of a stream from ``cursor`` on, oldest first, with
        ``start <= timestamp < end``.  An empty page continues from where it was asked to."""
        c = log_events.c
        at = tuple_(c.timestamp, c.id)
        mark = tuple_(literal(cursor.position.timestamp), literal(cursor.position.event_id))
        query = _in_window(select(log_events).where(c.group_name == group,
                                                    c.stream_name == stream), start, end)
        if cursor.forward:
            query = query.where(at > mark).order_by(c.timestamp, c.id)
        else:
            query = query.where(at < mark).order_by(c.timestamp.desc(), c.id.desc())
        with self.db.read() as conn:
            _require_stream(conn, group, stream)
            rows = conn.execute(query.limit(limit)).all()
        events = _within_budget([_event(r) for r in rows])
        if not cursor.forward:
            events.reverse()
        return _event_page(events, cursor)

    def filter_events(self, group: str, streams: Sequence[str] | None = None,
                      stream_prefix: str = "", start: int | None = None,
                      end: int | None = None, matches: Callable[[str], bool] | None = None,
                      after: Position | None = None, limit: int = MAX_EVENTS) -> FilterPage:
        """Events of the group's streams (all, the named ones, or those starting with
        ``stream_prefix``) with ``start <= timestamp <= end`` whose message ``matches``, in
        timestamp order across streams, from after ``after``."""
        with self.db.read() as conn:
            if not _group_exists(conn, group):
                raise group_not_found()
            names = _stream_names(conn, group, streams, stream_prefix)
            if not names:
                return FilterPage([], [], None)
            query = select(log_events).where(log_events.c.group_name == group)
            if streams is not None or stream_prefix:
                query = query.where(log_events.c.stream_name.in_(names))
            end_inclusive = None if end is None else end + 1
            query = _in_window(query, start, end_inclusive)
            events, resume = _scan(conn, query, matches or _everything, after or START, limit)
        return FilterPage(events, names, resume)


# --- queries --------------------------------------------------------------------------------


def _group_exists(conn: Connection, name: str) -> bool:
    return conn.execute(select(log_groups.c.name).where(log_groups.c.name == name)).first() \
        is not None


def _stream_row(conn: Connection, group: str, name: str) -> Any:
    return conn.execute(select(log_streams).where(log_streams.c.group_name == group,
                                                  log_streams.c.name == name)).first()


def _require_stream(conn: Connection, group: str, name: str) -> None:
    if _stream_row(conn, group, name) is None:
        raise stream_not_found() if _group_exists(conn, group) else group_not_found()


def _touch_stream(conn: Connection, group: str, stream: str, first: int, last: int, now: int,
                  size: int) -> bool:
    """Widen the stream's event range and add ``size`` bytes; False if it does not exist."""
    result = conn.execute(_TOUCH_STREAM, {"g": group, "s": stream, "first": first,
                                          "last": last, "now": now, "size": size})
    return result.rowcount > 0


# Built once: a statement object memoizes its cache key, which keeps put_events cheap.
_TOUCH_STREAM = (
    update(log_streams)
    .where(log_streams.c.group_name == bindparam("g"), log_streams.c.name == bindparam("s"))
    .values(
        first_event=case((log_streams.c.first_event.is_(None)
                          | (log_streams.c.first_event > bindparam("first")), bindparam("first")),
                         else_=log_streams.c.first_event),
        last_event=case((log_streams.c.last_event.is_(None)
                         | (log_streams.c.last_event < bindparam("last")), bindparam("last")),
                        else_=log_streams.c.last_event),
        last_ingestion=bindparam("now"),
        stored_bytes=log_streams.c.stored_bytes + bindparam("size")))
_INSERT_EVENTS = insert(log_events)


def _stream_names(conn: Connection, group: str, streams: Sequence[str] | None,
                  prefix: str) -> list[str]:
    query = select(log_streams.c.name).where(log_streams.c.group_name == group)
    if streams is not None:
        query = query.where(log_streams.c.name.in_(list(streams)))
    if prefix:
        query = query.where(_starts_with(log_streams.c.name, prefix))
    return list(conn.execute(query.order_by(log_streams.c.name)).scalars())


def _starts_with(column: Any, prefix: str) -> ColumnElement[bool]:
    # substr, not LIKE: SQLite's LIKE ignores case and log names are case-sensitive.
    result: ColumnElement[bool] = func.substr(column, 1, len(prefix)) == prefix
    return result


def _in_window(query: Select[Any], start: int | None, end: int | None) -> Select[Any]:
    """Events with ``start <= timestamp < end`` (either bound optional)."""
    if start is not None:
        query = query.where(log_events.c.timestamp >= start)
    if end is not None:
        query = query.where(log_events.c.timestamp < end)
    return query


def _scan(conn: Connection, query: Select[Any], matches: Callable[[str], bool],
          after: Position, limit: int) -> tuple[list[LogEvent], Position | None]:
    """Matching events after ``after`` in (timestamp, id) order, read in chunks; returns them
    and the position to resume from, or None once the range is exhausted."""
    c = log_events.c
    found: list[LogEvent] = []
    budget, scanned, position = MAX_PAGE_BYTES, 0, after
    while True:
        mark = tuple_(literal(position.timestamp), literal(position.event_id))
        rows = conn.execute(query.where(tuple_(c.timestamp, c.id) > mark)
                            .order_by(c.timestamp, c.id).limit(_SCAN_CHUNK)).all()
        for row in rows:
            event = _event(row)
            if matches(event.message):
                if len(found) == limit or (found and event.cost > budget):
                    return found, position
                found.append(event)
                budget -= event.cost
            position = event.position
        scanned += len(rows)
        if len(rows) < _SCAN_CHUNK:
            return found, None
        if scanned >= MAX_SCANNED_EVENTS:
            return found, position


def _everything(_message: str) -> bool:
    return True


# --- values ---------------------------------------------------------------------------------


def _event(row: Any) -> LogEvent:
    return LogEvent(row.stream_name, row.timestamp, row.message, row.ingestion_time, row.id)


def _stream_info(row: Any) -> LogStreamInfo:
    return LogStreamInfo(row.group_name, row.name, row.created, row.first_event, row.last_event,
                         row.last_ingestion, row.stored_bytes)


def _within_budget(events: list[LogEvent]) -> list[LogEvent]:
    """The leading events that fit in one page's byte budget (at least one)."""
    budget = MAX_PAGE_BYTES
    for i, event in enumerate(events):
        budget -= event.cost
        if budget < 0 and i > 0:
            return events[:i]
    return events


def _event_page(events: list[LogEvent], cursor: Cursor) -> EventPage:
    if events:
        return EventPage(events, Cursor(events[-1].position, True),
                         Cursor(events[0].position, False))
    here = cursor.position
    if cursor.forward:  # nothing newer yet: hand the same place back, so a later poll sees more
        return EventPage([], cursor, Cursor(Position(here.timestamp, here.event_id + 1), False))
    # nothing older in range: reading forward from the start sees whatever arrives later
    return EventPage([], Cursor(START, True), cursor)

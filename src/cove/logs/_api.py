"""The CloudWatch Logs JSON API (``Logs_20140328.*``) over a :class:`LogStore`.

Operations: CreateLogGroup, CreateLogStream, DeleteLogGroup, DescribeLogGroups,
DescribeLogStreams, PutLogEvents, GetLogEvents, FilterLogEvents.  botocore checks only required
members, types and minimums; names, maximums, enums and tokens are checked here.  Accepted and
ignored: tags, kmsKeyId, logGroupClass (every group is STANDARD), PutLogEvents' sequenceToken
(as AWS now ignores it), unmask, interleaved.
"""

from __future__ import annotations

import re
from typing import Any

from cove.logs import _tokens
from cove.logs._errors import InvalidParameterException
from cove.logs._filter import compile_pattern
from cove.logs._store import (
    END,
    MAX_EVENTS,
    MAX_PAGE_BYTES,
    START,
    Cursor,
    EventPage,
    LogEvent,
    LogGroupInfo,
    LogStore,
    LogStreamInfo,
    Position,
)
from cove.wire import Call, JsonService

GROUP_NAME = re.compile(r"[\.\-_/#A-Za-z0-9]+")
STREAM_NAME = re.compile(r"[^:*]*")
_GROUP_ARN = re.compile(r"arn:aws[\w-]*:logs:[\w-]*:\d*:log-group:(?P<name>[^:]+)(?::\*)?")
MAX_NAME = 512
MAX_DESCRIBE = 50
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000
MAX_EVENT_BYTES = 262_144 - 26
GROUP_CLASSES = ("STANDARD", "INFREQUENT_ACCESS", "DELIVERY")
STREAM_ORDERS = ("LogStreamName", "LastEventTime")


def logs_service(store: LogStore) -> JsonService:
    """The ``logs`` service for the edge."""
    api = _LogsApi(store)
    return JsonService("logs", "Logs_20140328", {
        "CreateLogGroup": api.create_log_group,
        "CreateLogStream": api.create_log_stream,
        "DeleteLogGroup": api.delete_log_group,
        "DescribeLogGroups": api.describe_log_groups,
        "DescribeLogStreams": api.describe_log_streams,
        "PutLogEvents": api.put_log_events,
        "GetLogEvents": api.get_log_events,
        "FilterLogEvents": api.filter_log_events,
    })


class _LogsApi:
    def __init__(self, store: LogStore) -> None:
        self.store = store

    def create_log_group(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        name = _group_name(params)
        _enum(params, "logGroupClass", GROUP_CLASSES)
        self.store.create_group(name)
        return {}

    def create_log_stream(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.store.create_stream(_group_name(params), _stream_name(params))
        return {}

    def delete_log_group(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.store.delete_group(_group_name(params))
        return {}

    def describe_log_groups(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        _described_groups_only(params)
        prefix = _name(params, "logGroupNamePrefix", GROUP_NAME, required=False)
        contains = _name(params, "logGroupNamePattern", GROUP_NAME, required=False) \
            if params.get("logGroupNamePattern") else ""
        if prefix and contains:
            raise InvalidParameterException(
                "logGroupNamePrefix and logGroupNamePattern are mutually exclusive.")
        after = _token(params, "g", (str,))
        groups, more = self.store.describe_groups(
            prefix, contains, after[0] if after else None,
            _integer(params, "limit", 1, MAX_DESCRIBE) or MAX_DESCRIBE)
        result: dict[str, Any] = {"logGroups": [_group_dict(g, call) for g in groups]}
        if more:
            result["nextToken"] = _tokens.encode("g", groups[-1].name)
        return result

    def describe_log_streams(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        group = _group_name(params, allow_identifier=True)
        prefix = _name(params, "logStreamNamePrefix", STREAM_NAME, required=False)
        by_last_event = _enum(params, "orderBy", STREAM_ORDERS) == "LastEventTime"
        if by_last_event and prefix:
            raise InvalidParameterException(
                "Cannot order by LastEventTime with a logStreamNamePrefix.")
        after = _token(params, "s", (int, str))
        streams, more = self.store.describe_streams(
            group, prefix, by_last_event, _boolean(params, "descending"),
            (after[0], after[1]) if after else None,
            _integer(params, "limit", 1, MAX_DESCRIBE) or MAX_DESCRIBE)
        result: dict[str, Any] = {"logStreams": [_stream_dict(s, call) for s in streams]}
        if more:
            result["nextToken"] = _tokens.encode("s", *streams[-1].sort_key(by_last_event))
        return result

    def put_log_events(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        group, stream = _group_name(params), _stream_name(params)
        events = _log_events(params.get("logEvents"))
        self.store.put_events(group, stream, events, create=False)
        # AWS ignores sequence tokens now but still hands one back; any opaque value will do.
        return {"nextSequenceToken": _tokens.encode("q", len(events), events[-1][0])}

    def get_log_events(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        group = _group_name(params, allow_identifier=True)
        stream = _stream_name(params)
        start, end = _time_range(params)
        page = self.store.get_events(group, stream, _get_cursor(params), start, end,
                                     _integer(params, "limit", 1, MAX_EVENTS) or MAX_EVENTS)
        return _event_page_dict(page)

    def filter_log_events(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        group = _group_name(params, allow_identifier=True)
        names = _stream_list(params)
        prefix = _name(params, "logStreamNamePrefix", STREAM_NAME, required=False)
        if names is not None and prefix:
            raise InvalidParameterException(
                "logStreamNames and logStreamNamePrefix are mutually exclusive.")
        pattern = params.get("filterPattern", "")
        if not isinstance(pattern, str) or len(pattern) > 1024:
            raise InvalidParameterException("filterPattern must be a string of at most 1024 "
                                            "characters.")
        start, end = _time_range(params)
        after = _token(params, "e", (int, int))
        page = self.store.filter_events(
            group, names, prefix, start, end, compile_pattern(pattern),
            Position(after[0], after[1]) if after else None,
            _integer(params, "limit", 1, MAX_EVENTS) or MAX_EVENTS)
        result: dict[str, Any] = {
            "events": [_filtered_dict(e) for e in page.events],
            "searchedLogStreams": [{"logStreamName": n, "searchedCompletely": page.next is None}
                                   for n in page.streams]}
        if page.next is not None:
            result["nextToken"] = _tokens.encode("e", page.next.timestamp, page.next.event_id)
        return result


# --- parameters -----------------------------------------------------------------------------


def _name(params: dict[str, Any], key: str, pattern: re.Pattern[str], *,
          required: bool = True) -> str:
    value = params.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME \
            or not pattern.fullmatch(value):
        raise InvalidParameterException(
            f"1 validation error detected: Value {value!r} at '{key}' failed to satisfy "
            f"constraint: Member must have length between 1 and {MAX_NAME} and match the "
            f"pattern {pattern.pattern}")
    return value


def _group_name(params: dict[str, Any], *, allow_identifier: bool = False) -> str:
    identifier = params.get("logGroupIdentifier") if allow_identifier else None
    if identifier is None:
        return _name(params, "logGroupName", GROUP_NAME)
    if "logGroupName" in params:
        raise InvalidParameterException(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if isinstance(identifier, str) and (arn := _GROUP_ARN.fullmatch(identifier)):
        return _name({"logGroupIdentifier": arn["name"]}, "logGroupIdentifier", GROUP_NAME)
    return _name(params, "logGroupIdentifier", GROUP_NAME)


def _stream_name(params: dict[str, Any]) -> str:
    return _name(params, "logStreamName", STREAM_NAME)


def _stream_list(params: dict[str, Any]) -> list[str] | None:
    names = params.get("logStreamNames")
    if names is None:
        return None
    if not isinstance(names, list) or not 1 <= len(names) <= 100:
        raise InvalidParameterException("logStreamNames must list 1 to 100 stream names.")
    return [_name({"logStreamNames": n}, "logStreamNames", STREAM_NAME) for n in names]


def _described_groups_only(params: dict[str, Any]) -> None:
    """DescribeLogGroups' members cove has no use for (one account, one class of group) are
    still checked, so a malformed one is refused rather than ignored."""
    _enum(params, "logGroupClass", GROUP_CLASSES)
    _boolean(params, "includeLinkedAccounts")
    identifiers = params.get("logGroupIdentifiers", [])
    if not isinstance(identifiers, list) or len(identifiers) > 50 or not all(
            isinstance(i, str) for i in identifiers):
        raise InvalidParameterException("logGroupIdentifiers must list at most 50 log group "
                                        "names or ARNs.")


def _integer(params: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = params.get(key)
    if value is None:
        return None
    if type(value) is not int or not low <= value <= high:
        raise InvalidParameterException(
            f"1 validation error detected: Value {value!r} at '{key}' failed to satisfy "
            f"constraint: Member must be an integer between {low} and {high}")
    return value


def _boolean(params: dict[str, Any], key: str) -> bool:
    value = params.get(key, False)
    if not isinstance(value, bool):
        raise InvalidParameterException(f"{key} must be true or false, not {value!r}.")
    return value


def _enum(params: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = params.get(key, allowed[0])
    if value not in allowed:
        raise InvalidParameterException(
            f"1 validation error detected: Value {value!r} at '{key}' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]")
    return str(value)


def _time_range(params: dict[str, Any]) -> tuple[int | None, int | None]:
    start = _integer(params, "startTime", 0, END.timestamp)
    end = _integer(params, "endTime", 0, END.timestamp)
    if start is not None and end is not None and start > end:
        raise InvalidParameterException("startTime must not be after endTime.")
    return start, end


def _token(params: dict[str, Any], kind: str, shape: tuple[type, ...]) -> list[Any] | None:
    token = params.get("nextToken")
    return None if token is None else _tokens.decode(token, kind, shape)[1]


def _get_cursor(params: dict[str, Any]) -> Cursor:
    """GetLogEvents' starting place: the token's, else the head or (the default) the tail."""
    token = params.get("nextToken")
    if token is not None:
        kind, (timestamp, event_id) = _tokens.decode(token, "fb", (int, int))
        return Cursor(Position(timestamp, event_id), kind == "f")
    if _boolean(params, "startFromHead"):
        return Cursor(START, True)
    return Cursor(END, False)


def _log_events(raw: Any) -> list[tuple[int, str]]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_EVENTS:
        raise InvalidParameterException(f"logEvents must list 1 to {MAX_EVENTS} events.")
    events = [_log_event(e) for e in raw]
    if any(a[0] > b[0] for a, b in zip(events, events[1:], strict=False)):
        raise InvalidParameterException(
            "Log events in a single PutLogEvents request must be in chronological order.")
    if events[-1][0] - events[0][0] > MAX_BATCH_SPAN_MS:
        raise InvalidParameterException(
            "The batch of log events in a single PutLogEvents request cannot span more than "
            "24 hours.")
    size = sum(len(m.encode("utf-8", "surrogatepass")) + 26 for _, m in events)
    if size > MAX_PAGE_BYTES:
        raise InvalidParameterException(
            f"Upload too large: {size} bytes exceeds the {MAX_PAGE_BYTES} bytes of a batch.")
    return events


def _log_event(raw: Any) -> tuple[int, str]:
    if not isinstance(raw, dict):
        raise InvalidParameterException("Each log event must be {timestamp, message}.")
    timestamp, message = raw.get("timestamp"), raw.get("message")
    if type(timestamp) is not int or not 0 <= timestamp <= END.timestamp:
        raise InvalidParameterException(
            f"Log event timestamp must be milliseconds since the epoch, not {timestamp!r}.")
    if not isinstance(message, str) or not message \
            or len(message.encode("utf-8", "surrogatepass")) > MAX_EVENT_BYTES:
        raise InvalidParameterException(
            f"Log event message must be a non-empty string of at most {MAX_EVENT_BYTES} "
            "bytes.")
    return timestamp, message


# --- responses ------------------------------------------------------------------------------


def _arn(call: Call, resource: str) -> str:
    return f"arn:aws:logs:{call.region}:{call.principal.account_id}:log-group:{resource}"


def _group_dict(group: LogGroupInfo, call: Call) -> dict[str, Any]:
    return {"logGroupName": group.name, "creationTime": group.created,
            "metricFilterCount": 0, "arn": _arn(call, group.name) + ":*",
            "logGroupArn": _arn(call, group.name), "storedBytes": group.stored_bytes,
            "logGroupClass": "STANDARD"}


def _stream_dict(stream: LogStreamInfo, call: Call) -> dict[str, Any]:
    result: dict[str, Any] = {
        "logStreamName": stream.name, "creationTime": stream.created,
        "arn": _arn(call, f"{stream.group}:log-stream:{stream.name}"),
        "storedBytes": stream.stored_bytes}
    for key, value in (("firstEventTimestamp", stream.first_event),
                       ("lastEventTimestamp", stream.last_event),
                       ("lastIngestionTime", stream.last_ingestion)):
        if value is not None:
            result[key] = value
    return result


def _event_page_dict(page: EventPage) -> dict[str, Any]:
    def token(cursor: Cursor) -> str:
        kind = "f" if cursor.forward else "b"
        return _tokens.encode(kind, cursor.position.timestamp, cursor.position.event_id)

    return {"events": [{"timestamp": e.timestamp, "message": e.message,
                        "ingestionTime": e.ingestion_time} for e in page.events],
            "nextForwardToken": token(page.forward),
            "nextBackwardToken": token(page.backward)}


def _filtered_dict(event: LogEvent) -> dict[str, Any]:
    return {"logStreamName": event.stream, "timestamp": event.timestamp,
            "message": event.message, "ingestionTime": event.ingestion_time,
            "eventId": str(event.event_id)}

"""The CloudWatch Logs API through boto3, against a server of its own on a free loopback port.

cove's server does not register the logs service yet, so this module runs an Edge with only
``logs_service`` under uvicorn in a background thread, over a fresh SQLite database.
"""

from __future__ import annotations

import base64
import json
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import uvicorn
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from cove.edge import Edge, Verifier
from cove.identity import Principal
from cove.logs import LogStore, logs_service
from cove.meta import Database
from tests.conftest import REGION

ACCOUNT = "123456789012"
PRINCIPAL = Principal("AKIDLOGSTEST", "logs-test-secret", ACCOUNT,
                      f"arn:aws:iam::{ACCOUNT}:root")
SDK_GROUP = "/aws/sagemaker/TrainingJobs"


@dataclass
class LogsServer:
    url: str
    store: LogStore

    def client(self, **config: Any) -> Any:
        return boto3.session.Session().client(
            "logs", endpoint_url=self.url, region_name=REGION,
            aws_access_key_id=PRINCIPAL.access_key_id,
            aws_secret_access_key=PRINCIPAL.secret_access_key,
            config=BotoConfig(retries={"max_attempts": 1, "mode": "standard"}, **config))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogsServer]:
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('logs')}/meta.db", migrate=True)
    store = LogStore(db)
    edge = Edge(Verifier(lambda key: PRINCIPAL if key == PRINCIPAL.access_key_id else None),
                [logs_service(store)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    uv = uvicorn.Server(uvicorn.Config(edge, lifespan="off", log_level="warning",
                                       access_log=False))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield LogsServer(f"http://127.0.0.1:{sock.getsockname()[1]}", store)
    uv.should_exit = True
    thread.join(10)
    sock.close()
    db.close()


@pytest.fixture
def logs(server: LogsServer) -> Any:
    return server.client()


@pytest.fixture
def unchecked(server: LogsServer) -> Any:
    """A client that skips botocore's own checks, so the server's are what is tested."""
    return server.client(parameter_validation=False)


@pytest.fixture
def group(logs: Any) -> str:
    name = f"/test/{uuid.uuid4().hex[:12]}"
    logs.create_log_group(logGroupName=name)
    return name


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _messages(response: dict[str, Any]) -> list[str]:
    return [e["message"] for e in response["events"]]


# --- groups and streams -----------------------------------------------------------------------


def test_log_group_lifecycle(logs: Any) -> None:
    name = f"/aws/sagemaker/Endpoints/ep-{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=name)
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName=name)
    assert _code(exc) == "ResourceAlreadyExistsException"
    [described] = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert described["logGroupName"] == name
    assert described["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"
    assert described["logGroupArn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"
    assert described["storedBytes"] == 0
    assert abs(described["creationTime"] - time.time() * 1000) < 60_000
    logs.delete_log_group(logGroupName=name)
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] == []
    with pytest.raises(ClientError) as exc:
        logs.delete_log_group(logGroupName=name)
    assert _code(exc) == "ResourceNotFoundException"
    assert exc.value.response["Error"]["Message"] == "The specified log group does not exist."


def test_delete_log_group_removes_streams_and_events(logs: Any, server: LogsServer,
                                                     group: str) -> None:
    server.store.put_events(group, "s", [(1, "gone")])
    logs.delete_log_group(logGroupName=group)
    logs.create_log_group(logGroupName=group)
    assert logs.describe_log_streams(logGroupName=group)["logStreams"] == []
    assert logs.filter_log_events(logGroupName=group)["events"] == []


def test_describe_log_groups_pages_and_filters(logs: Any, server: LogsServer) -> None:
    base = f"/page/{uuid.uuid4().hex[:8]}"
    names = [f"{base}/g{i}" for i in range(5)]
    for name in reversed(names):
        logs.create_log_group(logGroupName=name)
    server.store.put_events(names[1], "s", [(1, "12345")])
    seen, token = [], None
    while True:
        kwargs: dict[str, Any] = {"nextToken": token} if token else {}
        page = logs.describe_log_groups(logGroupNamePrefix=base, limit=2, **kwargs)
        assert len(page["logGroups"]) <= 2
        seen += page["logGroups"]
        token = page.get("nextToken")
        if not token:
            break
    assert [g["logGroupName"] for g in seen] == names
    assert seen[1]["storedBytes"] == 5
    pages = logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix=base, PaginationConfig={"PageSize": 3})
    assert [g["logGroupName"] for p in pages for g in p["logGroups"]] == names
    pattern = logs.describe_log_groups(logGroupNamePattern=base.upper() + "/G3")
    assert [g["logGroupName"] for g in pattern["logGroups"]] == [names[3]]


def test_create_log_stream_errors(logs: Any, group: str) -> None:
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName=group + "-missing", logStreamName="s")
    assert _code(exc) == "ResourceNotFoundException"
    assert exc.value.response["Error"]["Message"] == "The specified log group does not exist."
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName=group, logStreamName="s")
    assert _code(exc) == "ResourceAlreadyExistsException"


def test_describe_log_streams(logs: Any, server: LogsServer, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="job/algo-1-100")
    server.store.put_events(group, "job/algo-2-100", [(5_000, "a"), (7_000, "bc")])
    server.store.put_events(group, "job/algo-3-100", [(6_000, "x")])
    server.store.put_events(group, "other/algo-1-100", [(1_000, "y")])
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="job/",
                                        orderBy="LogStreamName")["logStreams"]
    assert [s["logStreamName"] for s in streams] == \
        ["job/algo-1-100", "job/algo-2-100", "job/algo-3-100"]
    empty, full = streams[0], streams[1]
    assert empty["storedBytes"] == 0 and "firstEventTimestamp" not in empty
    assert full["firstEventTimestamp"] == 5_000 and full["lastEventTimestamp"] == 7_000
    assert full["storedBytes"] == 3
    assert full["lastIngestionTime"] >= full["creationTime"]
    assert full["arn"] == (f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:"
                           "job/algo-2-100")
    by_time = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime",
                                        descending=True)["logStreams"]
    assert [s["logStreamName"] for s in by_time] == \
        ["job/algo-2-100", "job/algo-3-100", "other/algo-1-100", "job/algo-1-100"]
    descending = logs.describe_log_streams(logGroupName=group, descending=True)["logStreams"]
    assert [s["logStreamName"] for s in descending] == \
        ["other/algo-1-100", "job/algo-3-100", "job/algo-2-100", "job/algo-1-100"]


@pytest.mark.parametrize(("order", "descending"), [("LogStreamName", False),
                                                   ("LogStreamName", True),
                                                   ("LastEventTime", False),
                                                   ("LastEventTime", True)])
def test_describe_log_streams_pages(logs: Any, server: LogsServer, group: str, order: str,
                                    descending: bool) -> None:
    for i, ts in enumerate([30, 10, 20, 10, 50]):
        server.store.put_events(group, f"s{i}", [(ts, "m")])
    logs.create_log_stream(logGroupName=group, logStreamName="s5")  # no events yet
    listed, token = [], None
    while True:
        kwargs: dict[str, Any] = {"nextToken": token} if token else {}
        page = logs.describe_log_streams(logGroupName=group, orderBy=order,
                                         descending=descending, limit=2, **kwargs)
        listed += [s["logStreamName"] for s in page["logStreams"]]
        token = page.get("nextToken")
        if not token:
            break
    everything = logs.describe_log_streams(logGroupName=group, orderBy=order,
                                           descending=descending)["logStreams"]
    assert listed == [s["logStreamName"] for s in everything]
    assert sorted(listed) == [f"s{i}" for i in range(6)]
    if order == "LastEventTime":
        expected = ["s5", "s1", "s3", "s2", "s0", "s4"]
        assert listed == (expected[::-1] if descending else expected)


def test_describe_log_streams_errors(logs: Any, group: str) -> None:
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName=group + "-missing")
    assert _code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime",
                                  logStreamNamePrefix="job/")
    assert _code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName=group, orderBy="Size")
    assert _code(exc) == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName=group, limit=51)
    assert _code(exc) == "InvalidParameterException"


def test_log_group_identifier_is_name_or_arn(logs: Any, server: LogsServer, group: str) -> None:
    server.store.put_events(group, "s", [(1, "via arn")])
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    for identifier in (group, arn, arn + ":*"):
        streams = logs.describe_log_streams(logGroupIdentifier=identifier)["logStreams"]
        assert [s["logStreamName"] for s in streams] == ["s"]
    events = logs.get_log_events(logGroupIdentifier=arn, logStreamName="s")
    assert _messages(events) == ["via arn"]


# --- writing and reading events -----------------------------------------------------------------


def test_put_and_get_log_events(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    put = logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": 1_000, "message": "first\tline"},
        {"timestamp": 2_000, "message": "second ünïcode"},
        {"timestamp": 2_000, "message": "third, same time"}])
    assert put["nextSequenceToken"]
    head = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)
    assert _messages(head) == ["first\tline", "second ünïcode", "third, same time"]
    assert [e["timestamp"] for e in head["events"]] == [1_000, 2_000, 2_000]
    assert all(e["ingestionTime"] >= 1_000 for e in head["events"])
    tail = logs.get_log_events(logGroupName=group, logStreamName="s", limit=2)
    assert _messages(tail) == ["second ünïcode", "third, same time"]
    older = logs.get_log_events(logGroupName=group, logStreamName="s", limit=2,
                                nextToken=tail["nextBackwardToken"])
    assert _messages(older) == ["first\tline"]
    window = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True,
                                 startTime=1_500, endTime=2_001)
    assert _messages(window) == ["second ünïcode", "third, same time"]
    exclusive_end = logs.get_log_events(logGroupName=group, logStreamName="s",
                                        startFromHead=True, endTime=2_000)
    assert _messages(exclusive_end) == ["first\tline"]


def _read_all(logs: Any, group: str, token_key: str, **kwargs: Any) -> list[list[str]]:
    """Every page of GetLogEvents, following ``token_key`` until a page comes back empty
    (which must hand back the token it was given)."""
    pages: list[list[str]] = []
    token = None
    while True:
        more: dict[str, Any] = {"nextToken": token} if token else {}
        page = logs.get_log_events(logGroupName=group, logStreamName="s", **kwargs, **more)
        if not page["events"]:
            assert page[token_key] == token
            return pages
        pages.append(_messages(page))
        token = page[token_key]


def test_get_log_events_pages_both_ways(logs: Any, server: LogsServer, group: str) -> None:
    messages = [f"line {i}" for i in range(23)]
    server.store.put_events(group, "s", [(10_000 + i // 3, m) for i, m in enumerate(messages)])
    forward = _read_all(logs, group, "nextForwardToken", startFromHead=True, limit=5)
    assert [len(p) for p in forward] == [5, 5, 5, 5, 3]
    assert sum(forward, []) == messages
    backward = _read_all(logs, group, "nextBackwardToken", limit=4)
    assert [len(p) for p in backward] == [4, 4, 4, 4, 4, 3]
    assert sum(reversed(backward), []) == messages


def test_pages_stop_at_one_megabyte(logs: Any, server: LogsServer, group: str) -> None:
    big = [f"{i:03d}" + "x" * 249_997 for i in range(10)]  # 250 kB each
    server.store.put_events(group, "s", [(i, m) for i, m in enumerate(big)])
    forward = _read_all(logs, group, "nextForwardToken", startFromHead=True)
    assert [len(p) for p in forward] == [4, 4, 2]
    assert sum(forward, []) == big
    backward = _read_all(logs, group, "nextBackwardToken")
    assert sum(reversed(backward), []) == big
    pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group)
    sizes = [len(p["events"]) for p in pages]
    assert sum(sizes) == 10 and max(sizes) == 4


def test_sdk_log_polling_loop(logs: Any, server: LogsServer) -> None:
    """What ``sagemaker.logs`` does while a training job runs: find the job's streams, then
    read each with startFromHead and the forward token until a poll returns no events."""
    job = f"job-{uuid.uuid4().hex[:8]}"
    stream = f"{job}/algo-1-{int(time.time())}"
    if not logs.describe_log_groups(logGroupNamePrefix=SDK_GROUP)["logGroups"]:
        server.store.create_group(SDK_GROUP)
    server.store.put_events(SDK_GROUP, stream, [(1_000, "Starting"), (1_001, "[0]#011train")])

    streams = logs.describe_log_streams(logGroupName=SDK_GROUP, logStreamNamePrefix=job + "/",
                                        orderBy="LogStreamName", limit=1)["logStreams"]
    assert [s["logStreamName"] for s in streams] == [stream]

    def drain(token: str | None) -> tuple[list[str], str]:
        seen: list[str] = []
        while True:
            kwargs: dict[str, Any] = {"nextToken": token} if token else {}
            page = logs.get_log_events(logGroupName=SDK_GROUP, logStreamName=stream,
                                       startTime=0, startFromHead=True, **kwargs)
            if not page["events"]:
                assert page["nextForwardToken"] == token  # AWS hands the same token back
                return seen, page["nextForwardToken"]
            seen += _messages(page)
            token = page["nextForwardToken"]

    first, token = drain(None)
    assert first == ["Starting", "[0]#011train"]
    again, same = drain(token)
    assert again == [] and same == token
    server.store.put_events(SDK_GROUP, stream, [(1_002, "[1]#011train"), (1_002, "Done")])
    later, _ = drain(token)
    assert later == ["[1]#011train", "Done"]


def test_put_log_events_errors(logs: Any, unchecked: Any, group: str) -> None:
    def put(**kwargs: Any) -> str:
        args = {"logGroupName": group, "logStreamName": "s",
                "logEvents": [{"timestamp": 1, "message": "m"}], **kwargs}
        with pytest.raises(ClientError) as exc:
            unchecked.put_log_events(**args)
        return _code(exc)

    assert put() == "ResourceNotFoundException"  # no such stream
    assert put(logGroupName=group + "-missing") == "ResourceNotFoundException"
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    assert put(logEvents=[{"timestamp": 2, "message": "b"},
                          {"timestamp": 1, "message": "a"}]) == "InvalidParameterException"
    assert put(logEvents=[{"timestamp": 1, "message": ""}]) == "InvalidParameterException"
    assert put(logEvents=[]) == "InvalidParameterException"
    assert put(logEvents=[{"timestamp": "1", "message": "m"}]) == "InvalidParameterException"
    assert put(logEvents=[{"timestamp": -1, "message": "m"}]) == "InvalidParameterException"
    assert put(logEvents=[{"timestamp": 0, "message": "m"},
                          {"timestamp": 25 * 3600 * 1000, "message": "m"}]) \
        == "InvalidParameterException"
    assert put(logEvents=[{"timestamp": 1, "message": "x" * 300_000}]) \
        == "InvalidParameterException"
    assert logs.get_log_events(logGroupName=group, logStreamName="s")["events"] == []


def test_get_log_events_errors(logs: Any, group: str) -> None:
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName=group, logStreamName="missing")
    assert _code(exc) == "ResourceNotFoundException"
    assert exc.value.response["Error"]["Message"] == "The specified log stream does not exist."
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName=group + "-missing", logStreamName="s")
    assert exc.value.response["Error"]["Message"] == "The specified log group does not exist."
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    for bad in ({"limit": 10_001}, {"startTime": 10, "endTime": 5},
                {"logStreamName": "a:b"}):
        with pytest.raises(ClientError) as exc:
            logs.get_log_events(**{"logGroupName": group, "logStreamName": "s", **bad})
        assert _code(exc) == "InvalidParameterException", bad


def _forged(kind: str, values: Any) -> str:
    return kind + "/" + base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


@pytest.mark.parametrize("token", [
    "garbage", "f/", "f/!!!!", "x/" + _forged("f", [1, 2])[2:], _forged("f", [1]),
    _forged("f", ["1", 2]), _forged("f", [1, 2**70]), _forged("f", {"a": 1}),
    _forged("g", [1, 2]), "f/" + "A" * 5000,
])
def test_garbage_tokens_are_invalid_parameters(logs: Any, server: LogsServer, group: str,
                                               token: str) -> None:
    server.store.put_events(group, "s", [(1, "m")])
    calls: list[Callable[[], Any]] = [
        lambda: logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=token),
        lambda: logs.filter_log_events(logGroupName=group, nextToken=token),
        lambda: logs.describe_log_streams(logGroupName=group, nextToken=token),
        lambda: logs.describe_log_groups(nextToken=token),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert _code(exc) == "InvalidParameterException"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_bad_parameters_are_invalid_parameters(unchecked: Any) -> None:
    logs = unchecked
    calls: list[Callable[[], Any]] = [lambda: logs.create_log_group(logGroupName="bad name!"),
                 lambda: logs.create_log_group(logGroupName="g" * 513),
                 lambda: logs.create_log_group(logGroupName=""),
                 lambda: logs.create_log_group(),
                 lambda: logs.create_log_group(logGroupName=7),
                 lambda: logs.create_log_group(logGroupName="ok", logGroupClass="HOT"),
                 lambda: logs.create_log_stream(logGroupName="ok", logStreamName="a*b"),
                 lambda: logs.describe_log_groups(limit=51),
                 lambda: logs.describe_log_groups(limit=0),
                 lambda: logs.describe_log_groups(limit="5"),
                 lambda: logs.describe_log_streams(logGroupName="ok", descending="yes"),
                 lambda: logs.get_log_events(logGroupName="ok", logStreamName="s",
                                             startTime=-1),
                 lambda: logs.filter_log_events(logGroupName="ok", logStreamNames=[]),
                 lambda: logs.filter_log_events(logGroupName="ok", filterPattern=5),
                 lambda: logs.describe_log_streams(logGroupName="ok",
                                                   logGroupIdentifier="ok")]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert _code(exc) == "InvalidParameterException", exc.value.operation_name


# --- filtering --------------------------------------------------------------------------------


@pytest.fixture
def filtered(server: LogsServer, group: str) -> str:
    store = server.store
    store.put_events(group, "job/algo-1", [(100, "INFO start"), (300, "ERROR disk full"),
                                           (500, 'WARN "quoted" thing')])
    store.put_events(group, "job/algo-2", [(200, "INFO start"), (400, "ERROR Exiting now"),
                                           (600, "[3]#011validation-rmse:0.41")])
    store.put_events(group, "other", [(250, "ERROR elsewhere")])
    return group


def _filter(logs: Any, group: str, **kwargs: Any) -> list[tuple[str, str]]:
    events = logs.filter_log_events(logGroupName=group, **kwargs)["events"]
    return [(e["logStreamName"], e["message"]) for e in events]


def test_filter_log_events_interleaves_streams(logs: Any, filtered: str) -> None:
    response = logs.filter_log_events(logGroupName=filtered)
    assert [e["timestamp"] for e in response["events"]] == [100, 200, 250, 300, 400, 500, 600]
    assert len({e["eventId"] for e in response["events"]}) == 7
    assert all(e["ingestionTime"] > 0 for e in response["events"])
    assert {s["logStreamName"] for s in response["searchedLogStreams"]} == \
        {"job/algo-1", "job/algo-2", "other"}
    assert "nextToken" not in response
    assert _filter(logs, filtered, logStreamNames=["job/algo-2", "nope"]) == [
        ("job/algo-2", "INFO start"), ("job/algo-2", "ERROR Exiting now"),
        ("job/algo-2", "[3]#011validation-rmse:0.41")]
    assert [m for _, m in _filter(logs, filtered, logStreamNamePrefix="job/")] == [
        "INFO start", "INFO start", "ERROR disk full", "ERROR Exiting now",
        'WARN "quoted" thing', "[3]#011validation-rmse:0.41"]
    assert [m for _, m in _filter(logs, filtered, startTime=250, endTime=400)] == [
        "ERROR elsewhere", "ERROR disk full", "ERROR Exiting now"]  # both ends inclusive


@pytest.mark.parametrize(("pattern", "expected"), [
    ("", 7),
    ("ERROR", 3),
    ("error", 0),  # case-sensitive, as CloudWatch
    ("ERROR -Exiting", 2),
    ('"disk full"', 1),
    ('ERROR "disk full"', 1),
    ("?WARN ?Exiting", 2),
    ('"\\"quoted\\""', 1),
    ("validation-rmse", 1),
    ("%rmse:[0-9.]+%", 1),
    ("%^INFO%", 2),
])
def test_filter_patterns(logs: Any, filtered: str, pattern: str, expected: int) -> None:
    assert len(_filter(logs, filtered, filterPattern=pattern)) == expected


@pytest.mark.parametrize("pattern", ['{ $.level = "ERROR" }', "[ip, user]", '"unterminated',
                                     "%[%"])
def test_unsupported_filter_patterns(logs: Any, filtered: str, pattern: str) -> None:
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName=filtered, filterPattern=pattern)
    assert _code(exc) == "InvalidParameterException"


def test_filter_log_events_pages(logs: Any, filtered: str) -> None:
    seen, token = [], None
    while True:
        kwargs: dict[str, Any] = {"nextToken": token} if token else {}
        page = logs.filter_log_events(logGroupName=filtered, filterPattern="ERROR", limit=2,
                                      **kwargs)
        assert len(page["events"]) <= 2
        seen += [e["message"] for e in page["events"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == ["ERROR elsewhere", "ERROR disk full", "ERROR Exiting now"]
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=filtered, PaginationConfig={"PageSize": 3})
    assert len([e for p in pages for e in p["events"]]) == 7


def test_filter_log_events_errors(logs: Any, filtered: str) -> None:
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName=filtered + "-missing")
    assert _code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName=filtered, logStreamNames=["other"],
                               logStreamNamePrefix="job/")
    assert _code(exc) == "InvalidParameterException"


# --- the writer API -----------------------------------------------------------------------------


def test_put_events_creates_group_and_stream(logs: Any, server: LogsServer) -> None:
    name = f"/implicit/{uuid.uuid4().hex[:8]}"
    server.store.put_events(name, "s", [(3, "c\r\n"), (1, "  a  ")])  # stored as given
    server.store.put_events(name, "s", [])
    [stream] = logs.describe_log_streams(logGroupName=name)["logStreams"]
    assert (stream["firstEventTimestamp"], stream["lastEventTimestamp"]) == (1, 3)
    assert stream["storedBytes"] == 8
    events = logs.get_log_events(logGroupName=name, logStreamName="s", startFromHead=True)
    assert _messages(events) == ["  a  ", "c\r\n"]


def test_put_events_timing(tmp_path: Path) -> None:
    """How long a training job's line-by-line writes take (printed, not asserted)."""
    db = Database(f"sqlite:///{tmp_path}/meta.db", migrate=True)
    store = LogStore(db)
    store.put_events("/timing", "s", [(0, "warm up")])
    for batch in (1, 3, 100):
        times = []
        for i in range(500):
            started = time.perf_counter()
            store.put_events("/timing", "s", [(i, f"line {i} of a training log")] * batch)
            times.append(time.perf_counter() - started)
        print(f"\nput_events of {batch:3d} line(s): median "
              f"{statistics.median(times) * 1e6:.0f} us, p90 "
              f"{sorted(times)[len(times) * 9 // 10] * 1e6:.0f} us")
    db.close()

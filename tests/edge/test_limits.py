"""The front door's limits over raw sockets: a request head must arrive in time, be small enough
and have few enough fields, and a port serves a bounded number of connections; clients that
keep to the limits notice nothing."""

from __future__ import annotations

import http.client
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import REGION, CoveServer

HEAD_TIMEOUT = 1.0
MAX_HEAD = 16 * 1024
MAX_HEADERS = 50
MAX_CONNECTIONS = 20


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    server = CoveServer(tmp_path_factory.mktemp("limited"), {
        "COVE_REQUEST_HEAD_TIMEOUT": f"{HEAD_TIMEOUT}s", "COVE_MAX_HEAD_BYTES": str(MAX_HEAD),
        "COVE_MAX_HEADERS": str(MAX_HEADERS),
        "COVE_MAX_CONNECTIONS": str(MAX_CONNECTIONS)}).start()
    yield server
    server.stop()


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def _answer(sock: socket.socket, deadline: float = 30.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(deadline)
    chunks = []
    while data := sock.recv(65536):
        chunks.append(data)
    return b"".join(chunks)


def _head(lines: list[str]) -> bytes:
    return ("GET /_cove/health HTTP/1.1\r\nHost: cove\r\n" + "".join(
        f"{line}\r\n" for line in lines) + "\r\n").encode()


def test_slow_heads_are_answered_408_and_closed(limited: CoveServer) -> None:
    started = time.monotonic()
    silent = _connect(limited.url)  # never sends a byte
    slow = []
    for _ in range(50):  # slowloris: a head that never ends
        sock = _connect(limited.url)
        sock.sendall(b"GET /_cove/health HTTP/1.1\r\nHost: cove\r\n")
        slow.append(sock)
    for sock in slow[:10]:  # dripping another header line does not buy time
        sock.sendall(b"X-Drip: 1\r\n")
    open_ones = {*slow, silent}
    answers: dict[socket.socket, bytes] = {sock: b"" for sock in open_ones}
    deadline = started + 30
    while open_ones and time.monotonic() < deadline:
        readable, _, _ = select.select(list(open_ones), [], [], 1.0)
        for sock in readable:
            data = sock.recv(65536)
            answers[sock] += data
            if not data:
                open_ones.discard(sock)
    took = time.monotonic() - started
    assert not open_ones, f"{len(open_ones)} slow connections still open after {took:.1f} s"
    for sock, answer in answers.items():
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"did not arrive within 1 seconds" in answer
        sock.close()


def test_a_slow_body_and_an_idle_keep_alive_are_not_slow_heads(limited: CoveServer,
                                                               tmp_path: Path) -> None:
    s3 = limited.client("s3")
    s3.create_bucket(Bucket="slow-body")
    c = limited.credentials
    request = AWSRequest("PUT", limited.url + "/slow-body/k", data=b"hello",
                         headers={"Host": limited.url.removeprefix("http://")})
    S3SigV4Auth(Credentials(c["access_key_id"], c["secret_access_key"]), "s3",
                REGION).add_auth(request)
    sock = _connect(limited.url)
    sock.sendall(("PUT /slow-body/k HTTP/1.1\r\nContent-Length: 5\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in request.headers.items()) + "\r\n").encode())
    time.sleep(HEAD_TIMEOUT * 1.5)  # the body may take its time: only the head is timed
    sock.sendall(b"hello")
    sock.settimeout(30)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    sock.close()
    assert s3.get_object(Bucket="slow-body", Key="k")["Body"].read() == b"hello"

    parts = urlsplit(limited.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    for _ in range(2):
        connection.request("GET", "/_cove/health")
        assert connection.getresponse().read()
        time.sleep(HEAD_TIMEOUT * 1.5)  # idle between requests is keep-alive, not a slow head
    connection.request("GET", "/_cove/health")
    assert connection.getresponse().status == 200
    connection.close()


def test_a_head_over_the_size_limit_is_431(limited: CoveServer) -> None:
    sock = _connect(limited.url)
    sock.sendall(_head([f"X-Big: {'a' * (MAX_HEAD + 100)}"]))
    answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert f"larger than {MAX_HEAD} bytes".encode() in answer


def test_an_8_mib_header_is_refused_before_it_is_all_sent(limited: CoveServer) -> None:
    sock = _connect(limited.url)
    sock.sendall(b"GET /_cove/health HTTP/1.1\r\nHost: cove\r\nX-Huge: ")
    sent = 0
    while sent < 8 << 20:
        if select.select([sock], [], [], 0)[0]:
            break  # answered
        try:
            sock.sendall(b"a" * 65536)
        except OSError:
            break
        sent += 65536
    answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_too_many_header_fields_is_431(limited: CoveServer) -> None:
    sock = _connect(limited.url)
    sock.sendall(_head([f"X-H{i}: v" for i in range(MAX_HEADERS + 10)]))
    answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert f"more than {MAX_HEADERS} header fields".encode() in answer
    # one under the limit is served (Host is a field too)
    sock = _connect(limited.url)
    sock.sendall(_head([f"X-H{i}: v" for i in range(MAX_HEADERS - 2)] + ["Connection: close"]))
    assert _answer(sock).startswith(b"HTTP/1.1 200 ")


def test_connections_over_the_limit_get_a_clear_503(limited: CoveServer) -> None:
    parts = urlsplit(limited.url)
    held = []
    for _ in range(MAX_CONNECTIONS):  # served and kept alive: each holds a connection
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        connection.request("GET", "/_cove/health")
        assert connection.getresponse().read()
        held.append(connection)
    extra = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    extra.request("GET", "/_cove/health")
    busy = extra.getresponse()
    assert busy.status == 503 and busy.getheader("retry-after") == "1"
    assert f"limit of {MAX_CONNECTIONS} connections" in busy.read().decode()
    extra.close()
    for connection in held[:5]:
        connection.close()
    deadline = time.monotonic() + 30
    while True:  # the server notices the closed connections as they go
        again = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        again.request("GET", "/_cove/health")
        status = again.getresponse().status
        again.close()
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 200
    for connection in held[5:]:
        connection.close()


def test_boto3_is_unaffected(limited: CoveServer) -> None:
    s3 = limited.client("s3")
    s3.create_bucket(Bucket="plain-client")
    s3.put_object(Bucket="plain-client", Key="k", Body=b"x" * 100_000,
                  Metadata={f"m{i}": "v" * 50 for i in range(20)})
    head = s3.head_object(Bucket="plain-client", Key="k")
    assert head["ContentLength"] == 100_000 and len(head["Metadata"]) == 20


def test_limit_settings_resolve_and_refuse_nonsense(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from cove.config import ConfigError, load_config

    defaults = load_config(tmp_path)
    assert (defaults.head_timeout_seconds, defaults.max_head_bytes, defaults.max_headers,
            defaults.max_connections) == (10.0, 65536, 200, 1000)
    monkeypatch.setenv("COVE_REQUEST_HEAD_TIMEOUT", "500ms")
    with pytest.raises(ConfigError):
        load_config(tmp_path).head_timeout_seconds  # noqa: B018
    monkeypatch.setenv("COVE_REQUEST_HEAD_TIMEOUT", "0")
    with pytest.raises(ConfigError, match="positive duration"):
        load_config(tmp_path).head_timeout_seconds  # noqa: B018
    monkeypatch.setenv("COVE_REQUEST_HEAD_TIMEOUT", "2.5s")
    assert load_config(tmp_path).head_timeout_seconds == 2.5

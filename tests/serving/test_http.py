"""The worker's HTTP/1.1 server, driven with raw sockets: keep-alive, pipelining, chunked bodies,
``Expect: 100-continue``, malformed requests, routes, shutdown."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.conftest import Worker, start_worker, write_code

ECHO = """
def model_fn(model_dir):
    return None


def transform_fn(model, body, content_type, accept):
    data = body.encode() if isinstance(body, str) else body
    return b"echo:" + data, "application/octet-stream"
"""


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    root = tmp_path_factory.mktemp("http")
    (root / "model").mkdir()
    write_code(root / "code", ECHO)
    running = start_worker(root / "w", root / "model", "sklearn", code_dir=root / "code",
                           entry_point="inference.py")
    yield running
    running.stop()


def connect(worker: Worker) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(worker.socket))
    return sock


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[bytes, dict[str, str], bytes]:
    """One response from ``sock`` (``buffer`` keeps what arrived after it)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        buffer.extend(chunk)
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a body")
        rest += chunk
    buffer[:] = rest[length:]
    return status.encode(), headers, rest[:length]


def post(body: bytes, extra: bytes = b"") -> bytes:
    return (b"POST /invocations HTTP/1.1\r\nHost: w\r\nContent-Type: application/x-raw\r\n"
            b"Content-Length: %d\r\n%s\r\n%s" % (len(body), extra, body))


def test_pipelined_requests_are_answered_in_order(worker: Worker) -> None:
    with connect(worker) as sock:
        sock.sendall(b"".join(post(b"request %d" % n) for n in range(20)))
        buffer = bytearray()
        bodies = [read_response(sock, buffer)[2] for _ in range(20)]

    assert bodies == [b"echo:request %d" % n for n in range(20)]


def test_keep_alive_and_connection_close(worker: Worker) -> None:
    with connect(worker) as sock:
        buffer = bytearray()
        sock.sendall(post(b"one"))
        first = read_response(sock, buffer)
        sock.sendall(post(b"two", b"Connection: close\r\n"))
        status, headers, body = read_response(sock, buffer)
        closed = sock.recv(10)

    assert first[2] == b"echo:one"
    assert status == b"HTTP/1.1 200 OK"
    assert headers["connection"] == "close"
    assert body == b"echo:two"
    assert closed == b""


def test_chunked_body_and_expect_continue(worker: Worker) -> None:
    with connect(worker) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: w\r\nContent-Type: a/b\r\n"
                     b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        _, _, body = read_response(sock, bytearray())

    assert body == b"echo:hello world"


def test_large_body(worker: Worker) -> None:
    payload = bytes(range(256)) * 40000  # 10 MB

    response = worker.invoke(payload, content_type="application/x-raw")

    assert response.content == b"echo:" + payload


def test_routes(worker: Worker) -> None:
    assert worker.client.get("/ping").content == b""
    assert worker.client.head("/ping").status_code == 200
    assert worker.client.get("/execution-parameters").json()["BatchStrategy"] == "MULTI_RECORD"
    assert worker.client.get("/invocations").status_code == 404
    assert worker.client.post("/predict").status_code == 404


def test_malformed_request_is_400_and_closed(worker: Worker) -> None:
    with connect(worker) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        status, _, _ = read_response(sock, bytearray())
        assert sock.recv(10) == b""

    assert status.startswith(b"HTTP/1.1 400")
    assert worker.client.get("/ping").status_code == 200


def test_sigterm_stops_the_worker_cleanly(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    write_code(tmp_path / "code", ECHO)
    running = start_worker(tmp_path / "w", tmp_path / "model", "sklearn",
                           code_dir=tmp_path / "code", entry_point="inference.py")
    assert running.invoke(b"x", content_type="a/b").status_code == 200

    running.proc.send_signal(signal.SIGTERM)

    assert running.proc.wait(timeout=10) == 0
    assert not (tmp_path / "w" / "failure").exists()
    assert "serving on" in running.stderr()
    running.client.close()

"""The hop from the edge to a model-server worker: HTTP/1.1 over the worker's Unix socket (or
TCP on loopback, for a worker on a Ray node),
with idle keep-alive connections reused.  Lean on purpose: it is on every invocation's path.

Each connection is an :class:`asyncio.Protocol` that parses the worker's response from the bytes
as they arrive and hands it to the waiting request through one future: no stream reader, no
task per request (``asyncio.wait_for`` made one), one timer for the timeout.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from cove import errors

MAX_IDLE = 64
MAX_HEAD = 1 << 20  # a response head larger than this is not a worker's
_NO_BODY = (204, 304)


class WorkerUnavailable(errors.ServerError):
    """The worker could not be reached or dropped the connection (it may have died)."""

    code = "ServiceUnavailable"
    status = 503


class WorkerDropped(WorkerUnavailable):
    """The request reached the worker, which closed the connection before answering it."""


@dataclass(frozen=True)
class WorkerResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


class WorkerClient:
    """Requests to one worker socket; safe to share between concurrent requests."""

    def __init__(self, socket_path: str) -> None:
        from cove.serving._http import tcp_address

        self.socket_path = socket_path  # or HOST:PORT for a worker on a Ray node
        self.tcp = tcp_address(socket_path)
        self._idle: list[_Connection] = []

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes,
                      timeout: float) -> WorkerResponse:
        """Send one request; ``TimeoutError`` after ``timeout`` seconds (the model is slow, not
        gone: the caller says so), :class:`WorkerUnavailable` if the worker cannot be reached
        or drops the connection."""
        head = "".join([f"{method} {path} HTTP/1.1\r\nhost: worker\r\ncontent-length: "
                        f"{len(body)}\r\n", *[f"{name}: {value}\r\n"
                                              for name, value in headers.items()], "\r\n"])
        connection = await self._connection()
        try:
            response = await connection.exchange(head.encode("latin-1") + body, timeout)
        except BaseException:
            connection.close()
            raise
        if connection.closed or response.headers.get("connection", "").lower() == "close" or len(
                self._idle) >= MAX_IDLE:
            connection.close()
        else:
            self._idle.append(connection)
        return response

    async def _connection(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
        loop = asyncio.get_running_loop()
        try:
            if self.tcp is not None:
                _, connection = await loop.create_connection(_Connection, *self.tcp)
            else:
                _, connection = await loop.create_unix_connection(_Connection, self.socket_path)
        except OSError as exc:
            raise WorkerUnavailable(f"the model worker is not reachable: {exc}") from exc
        return connection

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


class _Connection(asyncio.Protocol):
    """One keep-alive connection to a worker, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[WorkerResponse] | None = None
        self.closed = False

    async def exchange(self, data: bytes, timeout: float) -> WorkerResponse:
        assert self.transport is not None and self.waiter is None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[WorkerResponse] = loop.create_future()
        self.waiter = waiter
        self.transport.write(data)
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            self.waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            self.close()  # bytes nobody asked for: the connection cannot be trusted any more
            return
        self._settle(eof=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self._settle(eof=True)

    def _settle(self, eof: bool) -> None:
        assert self.waiter is not None
        try:
            response = parse_response(self.buffer, eof)
        except ValueError as exc:
            self.waiter.set_exception(WorkerDropped(
                f"the model worker dropped the request: {exc}"))
            return
        if response is not None:
            self.waiter.set_result(response)
            if self.buffer:  # more than the answer: nothing later on it can be trusted
                self.close()


def _expire(waiter: asyncio.Future[WorkerResponse]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def parse_response(buffer: bytearray, eof: bool) -> WorkerResponse | None:
    """The first complete response in ``buffer`` (its bytes removed), None if more must come;
    ``eof``: nothing more will (a body may then end at the close).  ValueError if malformed."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if eof or len(buffer) > MAX_HEAD:
            raise ValueError("the connection closed before a response" if eof else
                             "the response head is too large")
        return None
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/"):
        raise ValueError(f"not an HTTP response: {lines[0][:80]!r}")
    status = int(status_line[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    start = end + 4
    if status in _NO_BODY:  # a 204 (XGBoost's answer to an empty request) ends at its head
        body, size = b"", start
    elif "content-length" in headers:
        size = start + int(headers["content-length"])
        if len(buffer) < size:
            if eof:
                raise ValueError("the connection closed inside the response body")
            return None
        body = bytes(buffer[start:size])
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        found = _chunked(buffer, start, eof)
        if found is None:
            return None
        body, size = found
    elif eof:  # delimited by the end of the connection
        body, size = bytes(buffer[start:]), len(buffer)
        headers["connection"] = "close"
    else:
        return None
    del buffer[:size]
    return WorkerResponse(status, headers, body)


def _chunked(buffer: bytearray, at: int, eof: bool) -> tuple[bytes, int] | None:
    pieces: list[bytes] = []
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            break
        size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
        at = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", at - 2)
            if trailer_end < 0:
                break
            return b"".join(pieces), trailer_end + 4
        if len(buffer) < at + size + 2:
            break
        pieces.append(bytes(buffer[at:at + size]))
        at += size + 2
    if eof:
        raise ValueError("the connection closed inside a chunked response body")
    return None

"""HTTP/1.1 on a Unix socket for one worker: httptools' parser on an asyncio (uvloop) protocol.

Why not uvicorn: a worker serves three routes to one client (cove) and answers each request
synchronously as soon as its body is complete.  Without ASGI's per-request task, scope and
message dicts it spends 60-80 µs less CPU per request: for the one-review XGBoost request
(5,000 counts, 100 trees), 420-470 vs 500-530 µs of worker CPU per request, 11-17% more
requests/s at concurrency 1 and 8 (median of 4 interleaved runs on the same 2-vCPU machine).

Requests are answered inline on the event loop, one at a time in arrival order: a model sees one
request at a time, as in a SageMaker container's worker process, and a ``/ping`` that arrives
during a prediction is answered after it.  Handing each request to a thread instead cost ~150 µs
of thread wake-ups here (571 vs 1,214 requests/s at concurrency 1).

What it does: persistent connections (HTTP/1.1 keep-alive; ``Connection: close`` and HTTP/1.0
close after the response), pipelined requests answered in order, chunked request bodies,
``Expect: 100-continue``, back-pressure (a client that does not read its responses stops being
read), 400 and close on a malformed request.  It has no idle timeout: cove owns the connections.
SIGTERM or SIGINT closes the listener and the connections once their responses are written.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import traceback
from typing import Any

import httptools

from cove.serving._app import CUSTOM_ATTRIBUTES, Request, Response, WorkerApp

_REASONS = {200: b"OK", 204: b"No Content", 400: b"Bad Request", 404: b"Not Found",
            406: b"Not Acceptable", 415: b"Unsupported Media Type",
            424: b"Failed Dependency", 500: b"Internal Server Error",
            503: b"Service Unavailable"}


class _Connection(asyncio.Protocol):
    """One client connection: parse requests, answer each when its body is complete."""

    def __init__(self, app: WorkerApp, connections: set[_Connection]) -> None:
        self.app = app
        self.connections = connections
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.body: list[bytes] = []
        self.content_type: bytes | None = None
        self.accept: bytes | None = None
        self.custom_attributes: bytes | None = None
        self.expect_continue = False

    # asyncio.Protocol

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(b"protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            self._reject(f"malformed HTTP request: {exc}".encode())

    def pause_writing(self) -> None:  # the client is not reading: stop reading its requests
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._reset()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-type":
            self.content_type = value
        elif name == b"accept":
            self.accept = value
        elif name == CUSTOM_ATTRIBUTES:
            self.custom_attributes = value
        elif name == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True

    def on_headers_complete(self) -> None:
        if self.expect_continue and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        request = Request(self.parser.get_method(), self.url.split(b"?", 1)[0], body,
                          self.content_type, self.accept, self.custom_attributes)
        try:
            response = self.app.respond(request)
        except Exception:  # a bug in cove, not the model's failure: say so and carry on
            traceback.print_exc()
            response = Response(500, [(b"content-type", b"text/plain")],
                                b"cove's model server failed; its log has the traceback\n")
        keep_alive = self.parser.should_keep_alive()
        head = _head(response, keep_alive)
        if response.body and request.method != b"HEAD":
            # One write (a writev): one segment, so cove reads the response in one wake-up.
            transport.writelines([head, response.body])
        else:
            transport.write(head)
        if not keep_alive:
            transport.close()

    def _reject(self, reason: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_head(Response(400, [(b"content-type", b"text/plain")],
                                                reason + b"\n"), False) + reason + b"\n")
            self.transport.close()


def _head(response: Response, keep_alive: bool) -> bytes:
    lines = [b"HTTP/1.1 %d %s" % (response.status, _REASONS.get(response.status, b"Status"))]
    lines.extend(name + b": " + value for name, value in response.headers)
    if response.status != 204 or response.body:
        lines.append(b"content-length: %d" % len(response.body))
    if not keep_alive:
        lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _serve(app: WorkerApp, socket_path: str, ready: str | None) -> None:
    loop = asyncio.get_running_loop()
    connections: set[_Connection] = set()
    if inherited(socket_path) is not None:  # bound by cove, where this process cannot write
        listener = socket.socket(fileno=inherited(socket_path))
        server = await loop.create_unix_server(lambda: _Connection(app, connections),
                                               sock=listener)
    elif tcp_address(socket_path):  # HOST:PORT, on a Ray node: the edge is on another machine
        host, port = tcp_address(socket_path)  # type: ignore[misc]
        server = await loop.create_server(lambda: _Connection(app, connections), host, port)
    else:
        if os.path.exists(socket_path):
            os.unlink(socket_path)  # a stale socket from a previous worker
        server = await loop.create_unix_server(lambda: _Connection(app, connections),
                                               socket_path)
    if ready:
        print(ready, flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    for connection in list(connections):
        if connection.transport is not None:
            connection.transport.close()  # after what is buffered has been written
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(server.wait_closed(), timeout=5)


def tcp_address(address: str) -> tuple[str, int] | None:
    """``(host, port)`` for a ``HOST:PORT`` address, None for a Unix socket path."""
    host, _, port = address.rpartition(":")
    if "/" in address or not host or not port.isdigit():
        return None
    return host, int(port)


def inherited(address: str) -> int | None:
    """The descriptor of an ``fd:N`` address: a Unix socket cove bound and passed in (the
    worker only listens on it, so cove never connects through a path user code controls)."""
    kind, _, number = address.partition(":")
    return int(number) if kind == "fd" and number.isdigit() else None


def serve(app: WorkerApp, socket_path: str, ready: str | None = None) -> None:
    """Serve ``app`` on the Unix socket (or ``HOST:PORT``) until SIGTERM/SIGINT; print
    ``ready`` once listening."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(app, socket_path, ready))
    else:
        uvloop.run(_serve(app, socket_path, ready))

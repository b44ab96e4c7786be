"""What a production front end refuses before any application code runs: a request head that
takes too long to arrive (slowloris), one that is too large or has too many fields, and more
connections than the server is sized for.

uvicorn has a keep-alive timeout but no header timeout, and its httptools parser buffers a header
of any size; :func:`limited_protocol` returns its protocol class with those limits added.  Refusals
are answered the way reverse proxies answer them (408, 431, 503) and the connection is closed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httptools
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState


@dataclass(frozen=True)
class RequestLimits:
    """Per server: seconds for a request head to arrive, its size and field count, and the
    connections served at once."""

    head_timeout: float = 10.0
    max_head_bytes: int = 64 * 1024
    max_headers: int = 200
    max_connections: int = 1000


#: How long a refused connection's further input is read and dropped before it is closed.
LINGER_SECONDS = 2.0


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a head we will not serve."""


def limited_protocol(limits: RequestLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol bound to ``limits`` (pass it as ``uvicorn.Config(http=)``)."""
    return type("LimitedHttpProtocol", (_LimitedHttp,), {"limits": limits})


class _LimitedHttp(HttpToolsProtocol):
    limits: RequestLimits

    def __init__(self, config: Any, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limit_concurrency = None  # counted here, answered with a clearer 503
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refusal: tuple[int, str] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()  # a connection that never sends a byte times out too

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # While a head is arriving, feed at most what the head may still take, so that no
        # header is ever buffered past the limit.
        while data and self._in_head and self._refusal is None:
            room = self.limits.max_head_bytes - self._head_bytes
            if room <= 0:
                self._refuse(431, f"The request head is larger than "
                                  f"{self.limits.max_head_bytes} bytes.")
                return
            piece, data = data[:room], data[room:]
            self._head_bytes += len(piece)
            if not self._feed(piece):
                return
        if data and self._refusal is None:
            self._feed(data)

    def _feed(self, data: bytes) -> bool:
        """uvicorn's ``data_received``, answering our own refusals instead of its 400."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._refusal is None:
                self._refusal = (400, "Invalid HTTP request received.")
            self._send_refusal()
            return False
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        return not self.transport.is_closing()

    # --- parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._header_count = True, 0
        self._start_head_timer()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refusal = (431, f"The request has more than {self.limits.max_headers} "
                                  "header fields.")
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        self._stop_head_timer()
        busy = len(self.connections) > self.limits.max_connections or \
            len(self.tasks) >= self.limits.max_connections
        if not busy:
            super().on_headers_complete()
            return
        app, self.app = self.app, _busy(self.limits.max_connections)
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # what comes next is the next request's head (timed once begun)

    # --- refusing -----------------------------------------------------------------------------

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_late)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self._refuse(408, f"The request head did not arrive within "
                              f"{self.limits.head_timeout:g} seconds.")

    def _refuse(self, status: int, message: str) -> None:
        self._refusal = (status, message)
        self._send_refusal()

    def _send_refusal(self) -> None:
        assert self._refusal is not None
        status, message = self._refusal
        self._stop_head_timer()
        if self.transport.is_closing():
            return
        body = message.encode()
        self.transport.write(b"".join([
            STATUS_LINE[status], b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: ", str(len(body)).encode(), b"\r\n",
            b"connection: close\r\n\r\n", body]))
        # A lingering close, as nginx does: closing with unread input would reset the
        # connection and the client might lose the answer; so stop writing, discard what still
        # comes for a moment, then close.
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()


def _busy(limit: int) -> Any:
    body = (f"cove is serving its limit of {limit} connections; retry shortly (COVE_MAX_"
            "CONNECTIONS raises the limit).").encode()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()), (b"retry-after", b"1"),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    return app


__all__ = ["RequestLimits", "limited_protocol"]

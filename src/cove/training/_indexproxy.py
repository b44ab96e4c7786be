"""The forward proxy a requirements build reaches its package index through: the build's
sandbox has a network of its own whose only way out is this proxy, and the proxy goes only to
the hosts (and ports) pip's configuration names.

It speaks just what pip needs: ``CONNECT host:port`` (HTTPS, tunnelled as it is) and plain
``GET http://host:port/...`` (one request per connection, sent on with ``Connection: close``).
Every other host gets 403.  It follows no redirect itself: a redirect reaches pip, whose next
request is checked like the first.  Connections are bounded in number and in idle time."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import urllib.parse
from collections.abc import Iterator

MAX_CONNECTIONS = 32
HEAD_TIMEOUT = 30.0  # to send a request's head
CONNECT_TIMEOUT = 20.0  # to reach the index
IDLE_TIMEOUT = 120.0  # with nothing moving either way
HEAD_LIMIT = 64 * 1024
CHUNK = 64 * 1024
PYPI_FILES = "files.pythonhosted.org"


def allowed_hosts(locations: list[str]) -> frozenset[tuple[str, int]]:
    """The (host, port) of every network location pip is configured with (PyPI's files host
    with PyPI)."""
    hosts = set()
    for location in locations:
        url = urllib.parse.urlsplit(location)
        if url.scheme not in ("http", "https") or not url.hostname:
            continue
        port = url.port or (443 if url.scheme == "https" else 80)
        hosts.add((url.hostname.lower(), port))
        if url.hostname.lower() == "pypi.org":
            hosts.add((PYPI_FILES, 443))
    return frozenset(hosts)


def describe(hosts: frozenset[tuple[str, int]]) -> str:
    return ", ".join(sorted(f"{host}:{port}" for host, port in hosts))


class IndexProxy:
    """Serves on 127.0.0.1:``port`` (of the machine) from its own thread until ``close``."""

    def __init__(self, hosts: frozenset[tuple[str, int]]) -> None:
        self.hosts = hosts
        self.loop = asyncio.new_event_loop()
        self.slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, limit=HEAD_LIMIT))
        self.port: int = self.server.sockets[0].getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="cove-index-proxy")
        self.thread.start()

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.slots.locked():
                await _refuse(reader, writer, 503, "the index proxy has too many connections")
                return
            async with self.slots:
                await self._handle(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError):  # OSError includes the timeouts
            pass  # the client or the index went away or spoke nonsense: close both ends
        except asyncio.CancelledError:
            pass  # the build is over and the proxy with it (asyncio would log a cancelled task)
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        method, target, version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        where = _destination(method, target)
        if where is None:
            await _refuse(reader, writer, 400, "send CONNECT or an absolute http:// URL")
            return
        if where not in self.hosts:
            await _refuse(reader, writer, 403, f"{where[0]}:{where[1]} is not a configured "
                                               "package index of this build")
            return
        up_reader, up_writer = await asyncio.wait_for(
            asyncio.open_connection(*where), CONNECT_TIMEOUT)
        try:
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                up_writer.write(_origin_form(method, target, version, head))
            await _both_ways(reader, writer, up_reader, up_writer)
        finally:
            up_writer.close()


def _destination(method: str, target: str) -> tuple[str, int] | None:
    """The host and port a request is for, as the allow-list spells them (None: neither a
    CONNECT nor an absolute http:// URL)."""
    if method == "CONNECT":
        host, _, port = target.rpartition(":")
        return host.strip("[]").lower(), int(port)
    url = urllib.parse.urlsplit(target)
    if url.scheme != "http" or not url.hostname:
        return None
    return url.hostname.lower(), url.port or 80


def _origin_form(method: str, target: str, version: str, head: bytes) -> bytes:
    """The request as the index expects it: a path, and one request per connection."""
    url = urllib.parse.urlsplit(target)
    path = urllib.parse.urlunsplit(("", "", url.path or "/", url.query, ""))
    keep = [line for line in head.decode("latin-1").split("\r\n")[1:]
            if line and not line.lower().startswith(("connection:", "proxy-", "keep-alive:"))]
    lines = [f"{method} {path} {version}", *keep, "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def _both_ways(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
    """Until either side ends: a client that keeps its connection open after its one
    request's answer holds no slot."""
    pipes = {asyncio.ensure_future(_pipe(reader, up_writer)),
             asyncio.ensure_future(_pipe(up_reader, writer))}
    done, pending = await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()  # a timeout or reset: the caller closes both ends


async def _pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
    while data := await asyncio.wait_for(source.read(CHUNK), IDLE_TIMEOUT):
        target.write(data)
        await target.drain()


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: int,
                  reason: str) -> None:
    body = (reason + "\n").encode()
    phrase = {400: "Bad Request", 403: "Forbidden", 503: "Service Unavailable"}[status]
    writer.write(f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain\r\n"
                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        await writer.drain()
        writer.write_eof()
        # what the client sent and nobody read would make closing reset the connection,
        # losing the answer: read it (briefly) first
        await asyncio.wait_for(reader.read(HEAD_LIMIT), 1.0)
    writer.close()


@contextlib.contextmanager
def running(hosts: frozenset[tuple[str, int]]) -> Iterator[IndexProxy]:
    """A proxy to ``hosts`` for as long as the block runs."""
    proxy = IndexProxy(hosts)
    try:
        yield proxy
    finally:
        proxy.close()

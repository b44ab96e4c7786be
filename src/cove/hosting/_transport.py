"""The hop from the edge to a model-server worker: HTTP/1.1 over the worker's Unix socket,
with idle keep-alive connections reused.  Lean on purpose: it is on every invocation's path.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from cove import errors

MAX_IDLE = 64
_NO_BODY = (204, 304)


class WorkerUnavailable(errors.ServerError):
    """The worker could not be reached or dropped the connection (it may have died)."""

    code = "ServiceUnavailable"
    status = 503


@dataclass(frozen=True)
class WorkerResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


class WorkerClient:
    """Requests to one worker socket; safe to share between concurrent requests."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes,
                      timeout: float) -> WorkerResponse:
        reader, writer = await self._connection()
        try:
            head = [f"{method} {path} HTTP/1.1", "host: worker",
                    f"content-length: {len(body)}"]
            head += [f"{name}: {value}" for name, value in headers.items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            response = await asyncio.wait_for(_read_response(reader), timeout)
        except TimeoutError:  # the model is slow, not gone: the caller says so
            writer.close()
            raise
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            writer.close()
            raise WorkerUnavailable(f"the model worker dropped the request: {exc}") from exc
        except BaseException:
            writer.close()
            raise
        if response.headers.get("connection", "").lower() == "close" or len(
                self._idle) >= MAX_IDLE:
            writer.close()
        else:
            self._idle.append((reader, writer))
        return response

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            reader, writer = self._idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        try:
            return await asyncio.open_unix_connection(self.socket_path, limit=1 << 20)
        except OSError as exc:
            raise WorkerUnavailable(f"the model worker is not reachable: {exc}") from exc

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def _read_response(reader: asyncio.StreamReader) -> WorkerResponse:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if status in _NO_BODY:
        body = b""  # a 204 (what XGBoost answers to an empty request) ends at its head
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.read()
        headers["connection"] = "close"
    return WorkerResponse(status, headers, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    pieces: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(pieces)
        pieces.append(await reader.readexactly(size))
        await reader.readexactly(2)

"""The edge -> worker transport against scripted servers on a real Unix socket: framing (length,
chunked, 204, close-delimited), keep-alive reuse, timeouts, and workers that die mid-response."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cove.hosting._transport import (
    WorkerClient,
    WorkerDropped,
    WorkerResponse,
    WorkerUnavailable,
    parse_response,
)

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    return await reader.readexactly(length)


def _serve(tmp_path: Path, script: Script, client_timeout: float = 5.0,
           requests: int = 1) -> tuple[list[WorkerResponse | BaseException], int]:
    """Run ``script`` per connection; send ``requests`` requests one after another."""
    socket_path = str(tmp_path / "w.sock")
    connections = 0

    async def main() -> list[WorkerResponse | BaseException]:
        nonlocal connections

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            await script(reader, writer)

        server = await asyncio.start_unix_server(handle, socket_path)
        client = WorkerClient(socket_path)
        results: list[WorkerResponse | BaseException] = []
        for n in range(requests):
            try:
                results.append(await client.request(
                    "POST", "/invocations", {"content-type": "text/csv"}, b"body %d" % n,
                    client_timeout))
            except (WorkerUnavailable, TimeoutError) as exc:
                results.append(exc)
        client.close()
        server.close()
        return results

    return asyncio.run(main()), connections


def _answers(*responses: bytes) -> Script:
    """A worker answering each request on a connection with the next response, then waiting."""
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for response in responses:
            try:
                await _read_request(reader)
            except asyncio.IncompleteReadError:
                return
            writer.write(response)
            await writer.drain()
        await reader.read()
    return script


def test_keep_alive_connection_is_reused(tmp_path: Path) -> None:
    ok = b"HTTP/1.1 200 OK\r\ncontent-type: text/csv\r\ncontent-length: 3\r\n\r\n0.5"
    results, connections = _serve(tmp_path, _answers(ok, ok, ok), requests=3)

    assert [r.body for r in results if isinstance(r, WorkerResponse)] == [b"0.5"] * 3
    assert connections == 1


def test_response_in_pieces_and_chunked(tmp_path: Path) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        for piece in (b"HTTP/1.1 200 OK\r\ntransfer-", b"encoding: chunked\r\n\r\n3\r\nabc",
                      b"\r\n2;ext=1\r\nde\r\n0\r\n", b"\r\n"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.01)
        await reader.read()

    [result], _ = _serve(tmp_path, script)

    assert isinstance(result, WorkerResponse) and result.body == b"abcde"


def test_204_ends_at_its_head(tmp_path: Path) -> None:
    ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    results, connections = _serve(
        tmp_path, _answers(b"HTTP/1.1 204 No Content\r\ncontent-type: text/csv\r\n\r\n", ok),
        client_timeout=2, requests=2)

    assert [(r.status, r.body) for r in results if isinstance(r, WorkerResponse)] == [
        (204, b""), (200, b"ok")]
    assert connections == 1


def test_close_delimited_body(tmp_path: Path) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end")
        writer.close()

    [result], _ = _serve(tmp_path, script)

    assert isinstance(result, WorkerResponse) and result.body == b"until the end"


@pytest.mark.parametrize("partial", [b"", b"HTTP/1.1 200 OK\r\ncontent-le",
                                     b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf"])
def test_worker_dying_mid_response_is_dropped(tmp_path: Path, partial: bytes) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(partial)
        await writer.drain()
        writer.transport.abort()

    [result], _ = _serve(tmp_path, script)

    assert isinstance(result, WorkerDropped)


def test_unreachable_worker_is_unavailable_not_dropped(tmp_path: Path) -> None:
    async def main() -> BaseException:
        try:
            await WorkerClient(str(tmp_path / "nobody.sock")).request("GET", "/ping", {}, b"", 1)
        except WorkerUnavailable as exc:
            return exc
        raise AssertionError("no error")

    error = asyncio.run(main())

    assert type(error) is WorkerUnavailable and "not reachable" in error.message


def test_slow_worker_times_out_and_the_connection_is_not_reused(tmp_path: Path) -> None:
    answered = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await _read_request(reader)
        if body == b"body 0":
            await asyncio.sleep(0.5)  # too slow for the client; then answers anyway
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        answered.append(body)
        await writer.drain()
        await reader.read()

    results, connections = _serve(tmp_path, script, client_timeout=0.2, requests=2)

    assert isinstance(results[0], TimeoutError)
    assert isinstance(results[1], WorkerResponse) and results[1].body == b"body 1"
    assert connections == 2  # the late answer never reaches the next request


def test_unsolicited_bytes_close_an_idle_connection(tmp_path: Path) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\naEXTRA")  # one byte too many
        await writer.drain()
        await reader.read()

    results, connections = _serve(tmp_path, script, requests=2)

    assert all(isinstance(r, WorkerResponse) and r.body == b"a" for r in results)
    assert connections == 2


@pytest.mark.parametrize("data", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n",
                                  b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"])
def test_malformed_responses_raise_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse_response(bytearray(data), eof=False)


def test_incomplete_response_waits_and_leaves_the_buffer() -> None:
    buffer = bytearray(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nabc")

    assert parse_response(buffer, eof=False) is None
    buffer += b"de" + b"HTTP/1.1 200"

    response = parse_response(buffer, eof=False)

    assert response is not None and response.body == b"abcde"
    assert buffer == b"HTTP/1.1 200"

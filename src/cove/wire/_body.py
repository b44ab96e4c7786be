"""Request bodies as handlers see them: decoded from aws-chunked framing and checked against
what the signature promised (the payload SHA-256, chunk signatures, the decoded length).

A check that fails raises when the last byte has been read, before the handler can commit
anything, so a tampered or truncated body changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Protocol

from cove import errors

BATCH = 1 << 20
_INLINE_HASH_LIMIT = 64 * 1024  # below this, hashing in a thread costs more than it saves


class Decoder(Protocol):
    """Undoes a body's transfer framing (aws-chunked), checking what the framing signs."""

    #: Trailer headers, known once :meth:`finish` returned.
    trailers: dict[str, str]

    def feed(self, data: bytes) -> list[bytes]:
        """The payload pieces ``data`` completes; raises a CoveError on bad framing."""
        ...

    def finish(self) -> None:
        """The stream ended: raises a CoveError unless the framing ended properly."""
        ...


class Body:
    """The decoded payload of one request, readable once."""

    def __init__(self, stream: AsyncIterator[bytes], *, expected_sha256: str | None = None,
                 chunked: Decoder | None = None, decoded_length: int | None = None) -> None:
        self._stream = stream
        self._expected_sha256 = expected_sha256
        self._chunked = chunked
        self._decoded_length = decoded_length
        self.length = 0
        self.trailers: dict[str, str] = {}
        self._whole: bytes | None = None

    @classmethod
    def of(cls, data: bytes) -> Body:
        """A body already read (and verified) whole: :meth:`read` hands it over as it is."""
        body = cls(_once(data))
        body._whole = data
        return body

    def claim_sha256(self) -> str | None:
        """Hand the check of the signed payload SHA-256 to a consumer that hashes the bytes
        anyway (the object store does, in its own thread): the body stops hashing, and the
        consumer must call :func:`check_sha256` before it commits anything."""
        expected, self._expected_sha256 = self._expected_sha256, None
        return expected

    async def read(self, limit: int) -> bytes:
        """The whole body; more than ``limit`` bytes is an error."""
        if self._whole is not None:
            data, self._whole = self._whole, None
            self._stream = _once(b"")  # readable once, as a streamed body is
            self.length = len(data)
            if self.length > limit:
                raise errors.EntityTooLarge(
                    f"Your proposed upload exceeds the maximum allowed size ({limit} bytes).")
            return data
        pieces = []
        async for batch in self.batches():
            pieces.append(batch)
            if self.length > limit:
                raise errors.EntityTooLarge(
                    f"Your proposed upload exceeds the maximum allowed size ({limit} bytes).")
        return b"".join(pieces)

    async def batches(self, size: int = BATCH) -> AsyncIterator[bytes]:
        """The body in pieces of about ``size`` bytes, verified at the end."""
        hasher = hashlib.sha256() if self._expected_sha256 else None
        loop = asyncio.get_running_loop()
        async for batch in _rebatch(self._decoded(), size):
            self.length += len(batch)
            pending = None
            if hasher is not None:
                if len(batch) < _INLINE_HASH_LIMIT:
                    hasher.update(batch)
                else:  # hash in a thread while the consumer writes the batch
                    pending = loop.run_in_executor(None, hasher.update, batch)
            yield batch
            if pending is not None:
                await pending
        if self._decoded_length is not None and self.length != self._decoded_length:
            raise errors.IncompleteBody(
                f"You did not provide the number of bytes specified by the "
                f"X-Amz-Decoded-Content-Length header ({self.length} of "
                f"{self._decoded_length}).")
        if hasher is not None and hasher.hexdigest() != self._expected_sha256:
            raise errors.ContentSHA256Mismatch(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ClientComputedContentSHA256=self._expected_sha256 or "",
                S3ComputedContentSHA256=hasher.hexdigest())

    async def _decoded(self) -> AsyncIterator[bytes]:
        if self._chunked is None:
            async for data in self._stream:
                if data:
                    yield data
            return
        async for data in self._stream:
            for piece in self._chunked.feed(data):
                yield piece
        self._chunked.finish()
        self.trailers = self._chunked.trailers


def check_sha256(expected: str | None, computed: str) -> None:
    """The claimed payload hash (see :meth:`Body.claim_sha256`) against what was received."""
    if expected is not None and computed != expected:
        raise errors.ContentSHA256Mismatch(
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ClientComputedContentSHA256=expected, S3ComputedContentSHA256=computed)


async def _rebatch(source: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    pending: list[bytes] = []
    held = 0
    async for data in source:
        pending.append(data)
        held += len(data)
        if held >= size:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data

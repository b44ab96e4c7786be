"""Request bodies as handlers see them: decoded from aws-chunked framing and checked against
what the signature promised (the payload SHA-256, chunk signatures, the decoded length).

A check that fails raises when the last byte has been read, before the handler can commit
anything, so a tampered or truncated body changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from typing import Any

from cove import errors
from cove.edge._sigv4 import EMPTY_SHA256, SignedRequest

BATCH = 1 << 20
_INLINE_HASH_LIMIT = 64 * 1024  # below this, hashing in a thread costs more than it saves
_MAX_LINE = 16 * 1024

STREAMING_SIGNED = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
STREAMING_UNSIGNED = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


class Body:
    """The decoded payload of one request, readable once."""

    def __init__(self, stream: AsyncIterator[bytes], *, expected_sha256: str | None = None,
                 chunked: ChunkDecoder | None = None, decoded_length: int | None = None) -> None:
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


class ChunkDecoder:
    """Incremental decoder of ``Content-Encoding: aws-chunked`` bodies.

    ``<hex-size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n`` ... ``0...\\r\\n`` then optional
    trailer lines and an empty line.  With a signed request, every chunk signature (and the
    trailer signature) is verified in a chain starting from the request's seed signature.
    """

    def __init__(self, signed: SignedRequest | None) -> None:
        self._signed = signed
        self._previous = signed.signature if signed else ""
        self._buf = bytearray()
        self._state = "header"
        self._remaining = 0
        self._chunk_signature = ""
        self._chunk_hash: Any = None
        self.trailers: dict[str, str] = {}

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        step: dict[str, Callable[[list[bytes]], bool]] = {
            "header": self._header, "data": self._data, "crlf": self._crlf,
            "trailer": self._trailer, "done": self._done}
        while self._buf and step[self._state](out):
            pass
        return out

    def finish(self) -> None:
        if self._state != "done":
            raise errors.IncompleteBody("The aws-chunked body ended before its final chunk.")

    def _line(self) -> bytes | None:
        at = self._buf.find(b"\r\n")
        if at < 0:
            if len(self._buf) > _MAX_LINE:
                raise errors.InvalidRequest("Malformed aws-chunked framing: line too long.")
            return None
        line = bytes(self._buf[:at])
        del self._buf[: at + 2]
        return line

    def _header(self, out: list[bytes]) -> bool:
        line = self._line()
        if line is None:
            return False
        size_text, _, extension = line.partition(b";")
        try:
            self._remaining = int(size_text, 16)
        except ValueError as exc:
            raise errors.InvalidRequest("Malformed aws-chunked framing: bad chunk size.") from exc
        name, _, signature = extension.decode("latin-1").partition("=")
        if self._signed is not None and name.strip() != "chunk-signature":
            raise errors.SignatureDoesNotMatch("An aws-chunked chunk is missing its signature.")
        self._chunk_signature = signature.strip()
        self._chunk_hash = hashlib.sha256()
        if self._remaining == 0:
            self._verify_chunk(EMPTY_SHA256)
            self._state = "trailer"
        else:
            self._state = "data"
        return True

    def _data(self, out: list[bytes]) -> bool:
        take = min(self._remaining, len(self._buf))
        piece = bytes(self._buf[:take])
        del self._buf[:take]
        if self._signed is not None:
            self._chunk_hash.update(piece)
        out.append(piece)
        self._remaining -= take
        if self._remaining == 0:
            self._state = "crlf"
        return True

    def _crlf(self, out: list[bytes]) -> bool:
        if len(self._buf) < 2:
            return False
        if self._buf[:2] != b"\r\n":
            raise errors.InvalidRequest("Malformed aws-chunked framing: chunk not ended by CRLF.")
        del self._buf[:2]
        self._verify_chunk(self._chunk_hash.hexdigest())
        self._state = "header"
        return True

    def _trailer(self, out: list[bytes]) -> bool:
        line = self._line()
        if line is None:
            return False
        if not line:
            self._verify_trailer()
            self._state = "done"
            return True
        name, _, value = line.decode("latin-1").partition(":")
        self.trailers[name.strip().lower()] = value.strip()
        return True

    def _done(self, out: list[bytes]) -> bool:
        if self._buf.strip(b"\r\n"):
            raise errors.InvalidRequest("Data after the end of an aws-chunked body.")
        self._buf.clear()
        return False

    def _verify_chunk(self, data_hash: str) -> None:
        if self._signed is None:
            return
        expected = self._sign("AWS4-HMAC-SHA256-PAYLOAD", EMPTY_SHA256, data_hash)
        if not hmac.compare_digest(expected, self._chunk_signature):
            raise errors.SignatureDoesNotMatch(
                "The chunk signature of an aws-chunked body does not match.")
        self._previous = expected

    def _verify_trailer(self) -> None:
        if self._signed is None or not self._signed.payload_hash.endswith("-TRAILER"):
            self.trailers.pop("x-amz-trailer-signature", None)
            return
        given = self.trailers.pop("x-amz-trailer-signature", "")
        canonical = "".join(f"{k}:{v}\n" for k, v in self.trailers.items())
        expected = self._sign("AWS4-HMAC-SHA256-TRAILER",
                              hashlib.sha256(canonical.encode()).hexdigest())
        if not hmac.compare_digest(expected, given):
            raise errors.SignatureDoesNotMatch("The trailer signature does not match.")

    def _sign(self, algorithm: str, *hashes: str) -> str:
        assert self._signed is not None
        text = "\n".join([algorithm, self._signed.amz_date, self._signed.credential.scope,
                          self._previous, *hashes])
        return hmac.new(self._signed.signing_key, text.encode(), hashlib.sha256).hexdigest()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data

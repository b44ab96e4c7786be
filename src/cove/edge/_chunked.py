"""aws-chunked request bodies (``Content-Encoding: aws-chunked``): the framing decoded and,
for a signed request, every chunk signature and the trailer signature checked in a chain from
the request's seed signature (SigV4's streaming mode)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from cove import errors
from cove.edge._sigv4 import EMPTY_SHA256, SignedRequest

_MAX_LINE = 16 * 1024

STREAMING_SIGNED = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
STREAMING_UNSIGNED = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


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

"""The checksums S3 clients send and expect back: CRC32, CRC32C, CRC64NVME, SHA1, SHA256.

Values travel base64-encoded (big-endian for the CRCs).  A multipart object's checksum is
either composite (the checksum of the parts' checksums, suffixed ``-N``) or, for the CRCs with
``x-amz-checksum-type: FULL_OBJECT``, the CRC of the whole object, combined from the parts'.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Protocol

import crc32c as crc32c_module
from awscrt import checksums as awscrt_checksums

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


class _Crc:
    """A running CRC over ``update()`` calls, as a hashlib-like object."""

    def __init__(self, step: object, width: int) -> None:
        self._step = step
        self._width = width
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = self._step(data, self._value)  # type: ignore[operator]

    @property
    def value(self) -> int:
        return self._value

    def digest(self) -> bytes:
        return self._value.to_bytes(self._width // 8, "big")


# --- CRC64/NVME (reflected, poly 0x9A6C9329AC4BC9B5) ---------------------------------------

_CRC64_POLY = 0x9A6C9329AC4BC9B5


def _crc64nvme(data: bytes, value: int = 0) -> int:
    return int(awscrt_checksums.crc64nvme(data, value))


def _crc32c(data: bytes, value: int = 0) -> int:
    return int(crc32c_module.crc32c(data, value))


CRC_POLYNOMIALS = {"CRC32": (0xEDB88320, 32), "CRC32C": (0x82F63B78, 32),
                   "CRC64NVME": (_CRC64_POLY, 64)}


def new_hasher(algorithm: str) -> Hasher:
    match algorithm:
        case "CRC32":
            return _Crc(zlib.crc32, 32)
        case "CRC32C":
            return _Crc(_crc32c, 32)
        case "CRC64NVME":
            return _Crc(_crc64nvme, 64)
        case "SHA1":
            return hashlib.sha1()
        case "SHA256":
            return hashlib.sha256()
    raise ValueError(f"unknown checksum algorithm {algorithm!r}")


def encode(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def checksum_of(algorithm: str, data: bytes) -> str:
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return encode(hasher.digest())


def composite(algorithm: str, part_checksums: list[str]) -> str:
    """S3's COMPOSITE checksum: the checksum of the concatenated raw part checksums, ``-N``."""
    raw = b"".join(base64.b64decode(c) for c in part_checksums)
    return f"{checksum_of(algorithm, raw)}-{len(part_checksums)}"


def combine_crc(algorithm: str, parts: list[tuple[str, int]]) -> str:
    """The FULL_OBJECT CRC of a concatenation, from each part's (base64 CRC, length)."""
    poly, width = CRC_POLYNOMIALS[algorithm]
    total = 0
    for value_b64, length in parts:
        value = int.from_bytes(base64.b64decode(value_b64), "big")
        total = _crc_combine(total, value, length, poly, width)
    return encode(total.to_bytes(width // 8, "big"))


def _crc_combine(crc1: int, crc2: int, len2: int, poly: int, width: int) -> int:
    """crc(A + B) from crc(A), crc(B) and len(B), for a reflected CRC (zlib's crc32_combine)."""
    if len2 == 0:
        return crc1
    odd = [poly] + [1 << i for i in range(width - 1)]  # operator for one zero bit
    even = _gf2_square(odd, width)  # two zero bits
    odd = _gf2_square(even, width)  # four zero bits
    while True:
        even = _gf2_square(odd, width)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even, width)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def _gf2_times(matrix: list[int], vec: int) -> int:
    total, i = 0, 0
    while vec:
        if vec & 1:
            total ^= matrix[i]
        vec >>= 1
        i += 1
    return total


def _gf2_square(matrix: list[int], width: int) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(width)]

"""Unpacking archives users hand to cove (``model.tar.gz``, ``sourcedir.tar.gz``, Lambda zips)
within limits: total bytes and member count, counted on what is actually decompressed.

A tar is read as a stream, one member at a time: each header is checked (tarfile's ``data``
filter refuses absolute names, ``../``, links out of the target, devices and FIFOs) and its size
added to the total *before* its data is written, so a 1 MiB archive that expands to a gigabyte
is refused at its first big header, with nothing of it on disk.  The decompressed stream is
capped too, so padding and oversized extended headers cannot run past the limit either.
A zip is decompressed whole (its CRCs checked) before it is accepted: what its central
directory claims about sizes counts for nothing.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import shutil
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from cove import errors

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
#: pax and GNU long-name headers are read whole into memory: a name never needs more
HEADER_LIMIT = 1 * MIB
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError,
                OSError)


@dataclass(frozen=True)
class ArchiveLimits:
    """How much an archive may unpack to (bytes of member data) and how many members it may
    have.  The defaults follow AWS where it has a limit (Lambda: 250 MB unzipped)."""

    model_bytes: int = 10 * GIB
    sourcedir_bytes: int = 1 * GIB
    function_bytes: int = 262_144_000
    members: int = 100_000


class ArchiveRefused(errors.ValidationError):
    """An archive that is unreadable, too large unpacked, or has a member that would land
    outside its directory (the message names it)."""


def extract_tar(archive: Path, target: Path, max_bytes: int, max_members: int,
                what: str) -> None:
    """Unpack the (optionally gzip/bzip2/xz-compressed) tar ``archive`` into the new directory
    ``target``.  ``ArchiveRefused`` naming ``what`` (and the member) when it cannot be unpacked
    within the limits or safely; ``target`` is then removed."""
    try:
        with open(archive, "rb") as raw:
            stream = _Capped(_decompressed(raw), max_bytes + (max_members + 2) * 2 * KIB, what)
            with tarfile.open(fileobj=stream, mode="r|", tarinfo=_BoundedHeaders) as tar:
                _extract_members(tar, target, max_bytes, max_members, what)
    except ArchiveRefused:
        shutil.rmtree(target, ignore_errors=True)
        raise
    except _READ_ERRORS as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ArchiveRefused(f"{what} is not a readable tar archive ({exc}).") from exc


def _extract_members(tar: tarfile.TarFile, target: Path, max_bytes: int, max_members: int,
                     what: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    total = 0
    for count, member in enumerate(tar, 1):
        if count > max_members:
            raise ArchiveRefused(f"{what} has more than {max_members} members, the limit.")
        total += member.size if member.isreg() else 0
        if total > max_bytes:
            raise ArchiveRefused(
                f"{what} unpacks to more than {max_bytes} bytes, the limit (member "
                f"{member.name!r} passes it).")
        if member.name.startswith("/"):  # the data filter would strip the slash; refuse it
            raise ArchiveRefused(f"{what}: member {member.name!r} has an absolute path.")
        try:
            tar.extract(member, target, filter="data")
        except tarfile.FilterError as exc:
            # tarfile's own message names cove's directories: say it in the archive's terms
            why = _REFUSALS.get(type(exc), "cannot be unpacked safely")
            raise ArchiveRefused(f"{what}: member {member.name!r} {why}.") from exc


_REFUSALS: dict[type[tarfile.FilterError], str] = {
    tarfile.AbsolutePathError: "has an absolute path",
    tarfile.OutsideDestinationError: "would land outside the directory",
    tarfile.SpecialFileError: "is a device or FIFO",
    tarfile.AbsoluteLinkError: "is a link to an absolute path",
    tarfile.LinkOutsideDestinationError: "is a link out of the directory",
}


class _BoundedHeaders(tarfile.TarInfo):
    """tarfile reads pax and GNU long-name headers whole into memory: refuse huge ones."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENDED and self.size > HEADER_LIMIT:
            raise ArchiveRefused(f"an extended header of {self.size} bytes (more than "
                                 f"{HEADER_LIMIT}) in the archive")
        return super()._proc_member(tar)  # type: ignore[misc, no-any-return]


_EXTENDED = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
             tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _decompressed(raw: BinaryIO) -> _Readable:
    magic = raw.read(6)
    raw.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    if magic == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw)
    return raw


class _Capped(io.RawIOBase):
    """A read-only stream that refuses to give more than ``limit`` bytes."""

    def __init__(self, source: _Readable, limit: int, what: str) -> None:
        self.source, self.left, self.what = source, limit, what

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size if size >= 0 else self.left + 1)
        self.left -= len(data)
        if self.left < 0:
            raise ArchiveRefused(f"{self.what} unpacks to more than the limit allows.")
        return data


def check_zip(data: bytes, max_bytes: int, max_members: int) -> None:
    """Decompress every member of the zip ``data`` (checking its CRC), counting real bytes.
    ``ArchiveRefused`` with Lambda's wording if it is unreadable or too large unpacked."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > max_members:
                raise ArchiveRefused(f"The zip has more than {max_members} files, the limit.")
            total = 0
            for member in members:
                with archive.open(member) as source:
                    while chunk := source.read(MIB):
                        total += len(chunk)
                        if total > max_bytes:
                            raise ArchiveRefused(
                                f"Unzipped size must be smaller than {max_bytes} bytes")
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
            ValueError, lzma.LZMAError, OSError) as exc:
        raise ArchiveRefused(
            f"Could not unzip uploaded file ({exc}). Please check your file, then try to "
            "upload again.") from exc


def extract_zip(archive: Path, target: Path, max_bytes: int, max_members: int) -> None:
    """Unpack the zip ``archive`` into ``target`` once ``check_zip`` accepts it (zipfile drops
    absolute and ``../`` parts of names, and writes links as plain files)."""
    check_zip(archive.read_bytes(), max_bytes, max_members)
    with zipfile.ZipFile(archive) as source:
        source.extractall(target)

"""Splitting an input object's bytes into records (``SplitType``), chunk by chunk.

- ``Line``: a record is a line without its ``\\n`` (and a ``\\r`` before it); blank lines are
  not records.  Its position is its line number in the (decompressed) object.  Lines are
  memoryviews of the chunk they were read in: splitting copies no bytes (but for lines that
  span two chunks), which matters at hundreds of MB.
- ``RecordIO``: MXNet RecordIO frames (``magic, flags|length, data, padding to 4 bytes``); a
  record is one frame, or the frames of a record split in parts (flags 1, 2, 3), kept framed
  and without the last frame's padding (see :func:`recordio_padding`).  Its position is its byte
  offset.  Anything else than a frame where one should start is an error naming the offset.
- ``None``: the whole object is one record (position 0).

Each splitter takes the object's chunks as they are read and yields :class:`Records` per chunk,
so an object of any size is split in bounded memory.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

RECORDIO_MAGIC = 0xCED7230A
_FRAME_HEAD = struct.Struct("<II")
_LENGTH_MASK = (1 << 29) - 1
_WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")


class SplitError(ValueError):
    """The object's bytes are not in the format SplitType names; the message says where."""


class RecordTooLarge(ValueError):
    """One record alone is over MaxPayloadInMB (``size`` is at least that many bytes)."""

    def __init__(self, ordinal: int, position: int, size: int, limit: int) -> None:
        super().__init__(f"record {ordinal} is {size:,} bytes")
        self.ordinal, self.position, self.size, self.limit = ordinal, position, size, limit


#: A record's bytes: a view of the chunk it was read in, or bytes of its own.
Record = bytes | memoryview


@dataclass(frozen=True, slots=True)
class Records:
    """Consecutive records of one object and where each was (line number or byte offset)."""

    items: list[Record]
    positions: list[int]


def split(split_type: str, chunks: Iterable[bytes], limit: int = 0) -> Iterator[Records]:
    """The records of an object; with ``SplitType`` None and a ``limit``, an object larger than
    that raises :class:`RecordTooLarge` before all of it is read."""
    if split_type == "Line":
        return split_lines(chunks)
    if split_type == "RecordIO":
        return split_recordio(chunks)
    return _whole(chunks, limit)


def split_lines(chunks: Iterable[bytes]) -> Iterator[Records]:
    rest: list[bytes] = []  # the start of a line that goes on in the next chunk
    line = 1
    for chunk in chunks:
        items: list[Record] = []
        positions: list[int] = []
        view, start = memoryview(chunk), 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if rest:
                whole = b"".join([*rest, chunk[start:end]])
                rest = []
                _keep(whole, whole, 0, len(whole), line, items, positions)
            else:
                _keep(chunk, view, start, end, line, items, positions)
            line, start = line + 1, end + 1
        if start < len(chunk):
            rest.append(chunk[start:])
        if items:
            yield Records(items, positions)
    if rest:
        whole = b"".join(rest)
        records = Records([], [])
        _keep(whole, whole, 0, len(whole), line, records.items, records.positions)
        if records.items:
            yield records


def _keep(data: bytes, view: Record, start: int, stop: int, line: int, items: list[Record],
          positions: list[int]) -> None:
    """Add ``data[start:stop]`` (a line without its newline) unless it is blank."""
    if stop > start and data[stop - 1] == 13:  # \r\n
        stop -= 1
    if not _blank(data, start, stop):
        items.append(view[start:stop])
        positions.append(line)


def count_lines(chunks: Iterable[bytes]) -> int:
    """How many records :func:`split_lines` finds, counted without copying any line."""
    count, blank = 0, True  # blank: the line being read has only whitespace so far
    for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            stop = len(chunk) if end < 0 else end
            if blank and not _blank(chunk, start, stop):
                blank = False
            if end < 0:
                break
            count += not blank
            blank, start = True, end + 1
    return count + (not blank)


def _blank(chunk: bytes, start: int, stop: int) -> bool:
    """Whether ``chunk[start:stop]`` is whitespace (``\r`` included), looking no further than
    its first byte when that is not (as in nearly every line)."""
    if start == stop:
        return True
    if chunk[start] not in _WHITESPACE:
        return False
    return chunk[start:stop].isspace()


def split_recordio(chunks: Iterable[bytes]) -> Iterator[Records]:
    buffer, offset = bytearray(), 0  # offset: where buffer[0] is in the object
    for chunk in chunks:
        buffer += chunk
        records, used = _frames(buffer, offset, final=False)
        if records.items:
            yield records
        del buffer[:used]
        offset += used
    records, used = _frames(buffer, offset, final=True)
    if records.items:
        yield records


def _frames(buffer: bytearray, offset: int, final: bool) -> tuple[Records, int]:
    """Complete records at the start of ``buffer``; how many bytes they took."""
    items: list[Record] = []
    positions: list[int] = []
    at = start = 0
    while True:
        end = _frame_end(buffer, at, offset)
        if end is None:
            break
        flag = _FRAME_HEAD.unpack_from(buffer, at)[1] >> 29
        if flag == 0 and at != start:
            raise SplitError(f"RecordIO: a whole record at byte {offset + at} interrupts a "
                             f"record in parts that started at byte {offset + start}")
        if flag in (0, 3):  # the record is complete
            length = _FRAME_HEAD.unpack_from(buffer, at)[1] & _LENGTH_MASK
            items.append(bytes(buffer[start:at + 8 + length]))
            positions.append(offset + start)
            start = end
        elif flag == 1 and at != start:
            raise SplitError(f"RecordIO: a record in parts starts at byte {offset + at} before "
                             f"the one at byte {offset + start} ended")
        at = end
    if final and start < len(buffer):
        raise SplitError(f"RecordIO: the object ends inside a record (byte {offset + start} "
                         f"of {offset + len(buffer)})")
    return Records(items, positions), start


def _frame_end(buffer: bytearray, at: int, offset: int) -> int | None:
    """Where the frame starting at ``at`` ends (padding included); None if not all here."""
    if len(buffer) - at < 8:
        return None
    magic, word = _FRAME_HEAD.unpack_from(buffer, at)
    if magic != RECORDIO_MAGIC:
        raise SplitError(f"RecordIO: no record header at byte {offset + at} (found "
                         f"{bytes(buffer[at:at + 4]).hex()}, expected the magic number "
                         f"0a23d7ce); is the object RecordIO?")
    length = word & _LENGTH_MASK
    end = at + 8 + length + recordio_padding(length)
    return end if end <= len(buffer) else None


def recordio_padding(length: int) -> int:
    """Zero bytes after a frame of ``length`` data bytes, up to a multiple of 4.

    A record's bytes end at its last frame's data; in a MultiRecord payload each record is
    followed by its padding (the payload is RecordIO again), a SingleRecord payload is the record
    alone, "padding removed" as SageMaker documents.
    """
    return -length % 4


def recordio_frame(data: bytes) -> bytes:
    """One whole-record frame of ``data`` with its padding (for tests and tools)."""
    return (_FRAME_HEAD.pack(RECORDIO_MAGIC, len(data)) + data
            + b"\0" * recordio_padding(len(data)))


def _whole(chunks: Iterable[bytes], limit: int) -> Iterator[Records]:
    parts, size = [], 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if limit and size > limit:
            raise RecordTooLarge(1, 0, size, limit)
    yield Records([b"".join(parts)], [0])

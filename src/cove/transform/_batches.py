"""Packing an object's records into mini-batches (``BatchStrategy``, ``MaxPayloadInMB``).

``SingleRecord`` sends each record alone; ``MultiRecord`` sends as many consecutive records as
fit in ``MaxPayloadInMB`` (0: no limit), separated by newlines (``Line``) or each followed by
its padding (``RecordIO``), so a mini-batch is itself a valid object of its format.  A record
that does not fit alone fails the job (:class:`RecordTooLarge`).  ``SplitType`` None sends the
whole object.
The ``InputFilter`` applies to each record before packing: the limit is on what is sent.

Batches never span objects, keep their records' order, and carry what assembling their output
needs: each record's ordinal and position (for messages), and the record as read (for
``JoinSource``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from cove.transform._inputs import InputObject
from cove.transform._processing import DataProcessing, ProcessingError
from cove.transform._records import Record, Records, RecordTooLarge, recordio_padding


class BadRecord(ValueError):
    """A record the InputFilter cannot apply to; says which."""

    def __init__(self, ordinal: int, position: int, reason: str) -> None:
        super().__init__(reason)
        self.ordinal, self.position, self.reason = ordinal, position, reason


@dataclass(slots=True)
class MiniBatch:
    item: InputObject
    payload: bytes | None  # None: the object has no records, there is nothing to send
    units: list[Record]  # what was sent for each record (after the InputFilter)
    originals: list[Record]  # each record as read (the same list without an InputFilter)
    first: int  # ordinal of the first record in its object, from 1
    positions: list[int]  # line number (Line), byte offset (RecordIO) of each record
    last: bool = False  # the last batch of its object

    @property
    def count(self) -> int:
        return len(self.units)


@dataclass(frozen=True)
class Packing:
    split_type: str  # None | Line | RecordIO
    single: bool  # BatchStrategy SingleRecord
    limit: int  # bytes; 0: no limit
    processing: DataProcessing | None = None

    @property
    def whole(self) -> bool:
        """SplitType None: one request per object, whatever its records."""
        return self.split_type == "None"

    def batches(self, item: InputObject, records: Iterable[Records]) -> Iterator[MiniBatch]:
        """The object's mini-batches, in order; the last one has ``last`` set."""
        ready: MiniBatch | None = None
        for batch in self._pack(item, records):
            if ready is not None:
                yield ready
            ready = batch
        if ready is None:  # no records at all: the object's output is empty
            ready = MiniBatch(item, None, [], [], 1, [])
        ready.last = True
        yield ready

    def _pack(self, item: InputObject, chunks: Iterable[Records]) -> Iterator[MiniBatch]:
        units: list[Record] = []
        originals: list[Record] = []
        positions: list[int] = []
        size, ordinal, first = 0, 0, 1
        prepare = self.processing.filter_input if self.processing else None
        for records in chunks:
            for record, position in zip(records.items, records.positions, strict=True):
                ordinal += 1
                unit = record if prepare is None else self._prepare(prepare, record, ordinal,
                                                                    position)
                framed = len(unit) + self._framing(unit)
                if self.limit and framed > self.limit and not self.whole:
                    raise RecordTooLarge(ordinal, position, framed, self.limit)
                if units and not self.whole and (self.single or (
                        self.limit and size + framed > self.limit)):
                    yield self._batch(item, units, originals, first, positions)
                    units, originals, positions, size, first = [], [], [], 0, ordinal
                units.append(unit)
                positions.append(position)
                if prepare is not None:
                    originals.append(record)
                size += framed
        if self.whole and self.limit and size > self.limit:
            raise RecordTooLarge(0, 0, size, self.limit)
        if units:
            yield self._batch(item, units, originals, first, positions)

    @staticmethod
    def _prepare(prepare: Callable[[Record], bytes], record: Record, ordinal: int,
                 position: int) -> bytes:
        try:
            return prepare(record)
        except ProcessingError as exc:
            raise BadRecord(ordinal, position, str(exc)) from exc

    def _framing(self, unit: Record) -> int:
        """Bytes a record takes in a mini-batch besides its own."""
        if self.split_type == "RecordIO":
            return 0 if self.single else recordio_padding(len(unit))
        if self.split_type == "Line":
            return 0 if self.single else 1
        return 1 if self.processing is not None else 0  # None: lines, or the raw object

    def _batch(self, item: InputObject, units: list[Record], originals: list[Record],
               first: int, positions: list[int]) -> MiniBatch:
        return MiniBatch(item, self.payload(units), units, originals or units, first, positions)

    def payload(self, units: list[Record]) -> bytes:
        """The request body for these records (one record: the record, as SingleRecord sends)."""
        if (self.split_type == "None" and self.processing is None) or (
                len(units) == 1 and self.single):
            return bytes(units[0])
        if self.split_type == "RecordIO":
            parts: list[Record] = []
            for unit in units:
                parts.append(unit)
                if padding := recordio_padding(len(unit)):
                    parts.append(b"\0" * padding)
            return b"".join(parts)
        return b"\n".join(units)

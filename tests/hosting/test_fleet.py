"""A worker's output on its way to the endpoint's log: lines batched per read, none lost."""

from __future__ import annotations

import os
import threading
import time

from cove.hosting._fleet import line_batches


def _batches(writes: list[bytes], longest: int = 1 << 16) -> list[list[str]]:
    read_end, write_end = os.pipe()

    def writer() -> None:
        for data in writes:
            os.write(write_end, data)
            time.sleep(0.05)  # most likely a read of its own
        os.close(write_end)

    thread = threading.Thread(target=writer)
    thread.start()
    batches = list(line_batches(read_end, longest))
    thread.join()
    os.close(read_end)
    return batches


def test_many_lines_in_one_read_are_one_batch() -> None:
    text = b"".join(b"prediction %d\n" % n for n in range(500))

    batches = _batches([text])

    assert batches == [[f"prediction {n}" for n in range(500)]]


def test_lines_split_across_reads_are_joined() -> None:
    batches = _batches([b"first li", b"ne\nsecond\r\nthi", "rd caf\u00e9".encode()])

    assert [line for batch in batches for line in batch] == ["first line", "second",
                                                            "third caf\u00e9"]


def test_a_long_line_without_end_comes_in_pieces() -> None:
    batches = _batches([b"x" * 25], longest=10)

    assert [line for batch in batches for line in batch] == ["x" * 10, "x" * 10, "x" * 5]

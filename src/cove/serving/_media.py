"""Content types, and the request-body parsers every runtime shares.

CSV rows are parsed by numpy's C number reader straight from the request bytes: integer-only
bodies (a bag-of-words row) as int64, which reads ~10x faster than floats, then widened to
float64; anything else as float64.  Bodies those fast paths cannot take (empty fields, which are
missing values, or a malformed row) are re-read line by line, which names the bad field.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import numpy as np
import numpy.typing as npt

from cove.serving._errors import BadRequest

JSON = "application/json"
JSONLINES = "application/jsonlines"
CSV = "text/csv"
NPY = "application/x-npy"
NPZ = "application/x-npz"
LIBSVM = "text/libsvm"
RECORDIO_PROTOBUF = "application/x-recordio-protobuf"
ANY = "*/*"

FloatArray = npt.NDArray[np.float64]

# int64 values beyond 2**53 are not exact as float64 (and numpy clamps overflowing ones): such
# bodies take the float reader, which rounds them as float() does.
_EXACT_INT = 2**53


def media_type(header: str | None) -> str:
    """``"Text/CSV; charset=utf-8"`` -> ``"text/csv"``; ``""`` when there is none."""
    if not header:
        return ""
    return header.split(";", 1)[0].strip().lower()


def choose_accept(accept: str, supported: Collection[str]) -> str | None:
    """The first media type listed in an Accept value that is in ``supported``, else None."""
    for part in accept.split(","):
        candidate = media_type(part)
        if candidate in supported:
            return candidate
    return None


def parse_csv(body: bytes | str) -> FloatArray:
    """Comma-separated rows of numbers -> a 2-D float64 array; empty fields are NaN.

    Raises :class:`BadRequest` naming the first field that is not a number, or the first row
    whose width differs from the first row's.
    """
    text = body.encode() if isinstance(body, str) else body
    text = text.strip()
    if not text:
        raise BadRequest("The request body is empty: send one CSV row per record.")
    if b"\n" not in text:
        rows, width, flat = 1, text.count(b",") + 1, text
    else:
        lines = [line for line in text.split(b"\n") if line.strip()]
        width = lines[0].count(b",") + 1
        if any(line.count(b",") != width - 1 for line in lines):
            return _parse_csv_lines(text)
        rows, flat = len(lines), b",".join(lines)
    values = _read_numbers(flat, rows * width)
    if values is None:
        return _parse_csv_lines(text)
    return values.reshape(rows, width)


def _read_numbers(flat: bytes, count: int) -> FloatArray | None:
    """``count`` comma-separated numbers, or None when the fast readers cannot take them all."""
    try:
        integers = np.fromstring(flat, dtype=np.int64, sep=",")
    except (ValueError, DeprecationWarning):
        pass  # a decimal point, an exponent, nan, an empty field: the float reader's turn
    else:
        if (integers.size == count and int(integers.max()) < _EXACT_INT
                and int(integers.min()) > -_EXACT_INT):
            widened: FloatArray = integers.astype(np.float64)
            return widened
    try:
        floats: FloatArray = np.fromstring(flat, dtype=np.float64, sep=",")
    except (ValueError, DeprecationWarning):
        return None
    return floats if floats.size == count else None


def _parse_csv_lines(text: bytes) -> FloatArray:
    """The careful reader: every field by itself, so an error can say where it is."""
    rows: list[list[float]] = []
    for number, line in enumerate(text.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        row = [_csv_field(number, column, field)
               for column, field in enumerate(line.split(","), start=1)]
        if rows and len(row) != len(rows[0]):
            raise BadRequest(
                f"CSV line {number} has {len(row)} fields but the first line has "
                f"{len(rows[0])}: every row needs the same columns.")
        rows.append(row)
    return np.asarray(rows, dtype=np.float64)


def _csv_field(line: int, column: int, field: str) -> float:
    text = field.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise BadRequest(
            f"CSV line {line}, column {column}: {text[:40]!r} is not a number. Send numeric "
            f"rows without a header (and without the label column).") from None

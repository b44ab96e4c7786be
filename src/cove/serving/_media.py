"""Content types, and the request-body parsers every runtime shares.

CSV rows are parsed by numpy's C number reader straight from the request bytes: integer-only
bodies (a bag-of-words row) as int64, which reads ~10x faster than floats, then widened to
float64; anything else as float64.  Bodies those fast paths cannot take (empty fields, which are
missing values, or a malformed row) are re-read line by line, which names the bad field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def choose_accept(accept: str, supported: Sequence[str], default: str | None = None) -> str | None:
    """The supported media type an Accept value prefers, else None.

    Highest ``q`` first, ties in the order listed; ``q=0`` refuses a type.  ``*/*`` and
    ``type/*`` stand for ``default`` when they cover it, else for the first supported type they
    cover.  (The toolkits compare the raw header; a single plain type behaves the same here.)
    """
    if "," not in accept and ";" not in accept:  # the usual single type: no ranking to do
        return _covered(accept.strip().lower(), supported, default)
    ranked = []
    for position, part in enumerate(accept.split(",")):
        kind, _, parameters = part.partition(";")
        ranked.append((-_quality(parameters), position, kind.strip().lower()))
    for negative_q, _, kind in sorted(ranked):
        chosen = _covered(kind, supported, default) if negative_q < 0 else None
        if chosen is not None:
            return chosen
    return None


def _quality(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 1.0  # a malformed weight is ignored, not taken as a refusal
    return 1.0


def _covered(kind: str, supported: Sequence[str], default: str | None) -> str | None:
    if kind in supported:
        return kind
    if not kind.endswith("/*"):
        return None
    prefix = "" if kind == "*/*" else kind[:-1]
    if default is not None and default in supported and default.startswith(prefix):
        return default
    return next((s for s in supported if s.startswith(prefix)), None)


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

"""Training data in the built-in algorithms' formats: CSV and libsvm, read from a channel.

CSV: no header, label in column 0 (with ``csv_weights``, instance weights in column 1), empty
fields are missing values (NaN).  libsvm: ``label index:value ...`` with indices used as given
(``1:x`` is column 1), as XGBoost's own parser reads them.  Every file of the channel is read, in
sorted order, and the rows concatenated.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from cove.algorithms._jobenv import AlgorithmError, Channel

CSV = "csv"
LIBSVM = "libsvm"
_FORMATS = {
    "text/csv": CSV, "csv": CSV, "text/x-csv": CSV, "application/csv": CSV,
    "text/libsvm": LIBSVM, "libsvm": LIBSVM, "text/x-libsvm": LIBSVM,
}

FloatArray = npt.NDArray[np.float64]
Features: TypeAlias = FloatArray | sp.csr_matrix


@dataclass(frozen=True)
class Dataset:
    """Rows of one channel: features (dense or CSR), labels, optional instance weights."""

    features: Features
    labels: FloatArray
    weights: FloatArray | None = None

    @property
    def num_rows(self) -> int:
        return int(self.features.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.features.shape[1])


def data_format(channel: Channel, fallback: str | None, supported: tuple[str, ...]) -> str:
    """``csv`` or ``libsvm`` from the channel's ContentType (or ``fallback`` when it has none)."""
    content_type = channel.content_type or fallback
    if content_type is None:
        raise AlgorithmError(f"The {channel.name!r} channel needs a ContentType.")
    media_type = content_type.split(";")[0].strip().lower()
    fmt = _FORMATS.get(media_type)
    if fmt is None or fmt not in supported:
        accepted = ", ".join(t for t, f in _FORMATS.items() if f in supported and "/" in t)
        raise AlgorithmError(
            f"The {channel.name!r} channel has ContentType {content_type!r}, which cove's "
            f"built-in algorithm cannot read. Use one of: {accepted}.")
    return fmt


#: A faster libsvm reader for plain files (XGBoost's native one); raises to fall back.
NativeLibsvm = Callable[[Path], tuple[sp.csr_matrix, FloatArray]]


def read_dataset(channel: Channel, fmt: str, csv_weights: bool = False,
                 native_libsvm: NativeLibsvm | None = None) -> Dataset:
    """Every file of ``channel`` parsed as ``fmt``."""
    if fmt == LIBSVM:
        return read_libsvm(channel, native_libsvm)
    table = read_csv(channel)
    first_feature = 2 if csv_weights else 1
    if table.shape[1] <= first_feature:
        raise AlgorithmError(
            f"The {channel.name!r} channel's CSV has {table.shape[1]} column(s): it needs the "
            f"label in column 0{', weights in column 1' if csv_weights else ''} and at least "
            f"one feature column after that.")
    weights = table[:, 1].copy() if csv_weights else None
    return Dataset(table[:, first_feature:], table[:, 0].copy(), weights)


def read_csv(channel: Channel) -> FloatArray:
    """All rows of all CSV files of the channel, as one float64 table (label column included)."""
    tables = [(path, table) for path, data in channel.read_files()
              if (table := _parse_csv(channel, path, data)).size]
    if not tables:
        raise AlgorithmError(
            f"The {channel.name!r} channel has no data rows (files: "
            f"{_listing(channel)}). Check the channel's S3 URI.")
    width = tables[0][1].shape[1]
    for path, table in tables[1:]:
        if table.shape[1] != width:
            raise AlgorithmError(
                f"{channel.relative(path)} has {table.shape[1]} columns but "
                f"{channel.relative(tables[0][0])} has {width}. Every CSV file of a channel "
                f"must have the same columns.")
    return tables[0][1] if len(tables) == 1 else np.vstack([t for _, t in tables])


def read_libsvm(channel: Channel, native: NativeLibsvm | None = None) -> Dataset:
    parts: list[tuple[sp.csr_matrix, FloatArray]] = []
    for path in channel.files():
        if native is not None and not channel.is_compressed(path):
            try:  # the fast path; on a failure the parser below says exactly what is wrong
                parts.append(native(path))
                continue
            except Exception:  # noqa: BLE001 - every failure falls back to the careful parser
                pass
        data = channel.read(path)
        if not data.strip():
            continue
        try:
            matrix, labels = parse_libsvm(data)
        except ValueError as exc:
            raise AlgorithmError(
                f"Could not parse {channel.relative(path)} as libsvm ({exc}). Each line must be "
                f"'<label> <index>:<value> ...'; for CSV data set the channel's ContentType to "
                f"text/csv.") from exc
        parts.append((matrix, labels))
    if not parts:
        raise AlgorithmError(
            f"The {channel.name!r} channel has no data rows (files: {_listing(channel)}).")
    width = max(m.shape[1] for m, _ in parts)
    matrix = sp.vstack([with_width(m, width) for m, _ in parts], format="csr")
    return Dataset(matrix, np.concatenate([labels for _, labels in parts]))


def parse_libsvm(data: bytes) -> tuple[sp.csr_matrix, FloatArray]:
    """libsvm text -> (CSR features, labels), parsed by numpy's C text reader.

    Not scikit-learn's reader: importing scikit-learn costs a job more than a second.
    """
    labels, rows, indptr, count = [], [], [0], 0
    for line in data.splitlines():
        fields = line.split(b"#", 1)[0].split()
        if not fields:
            continue
        pairs = [f for f in fields[1:] if not f.startswith(b"qid:")]
        labels.append(fields[0])
        rows.append(b" ".join(pairs))
        count += len(pairs)
        indptr.append(count)
    flat = b" ".join(rows)
    numbers = _numbers(flat.replace(b":", b" "), 2 * count) if count else np.empty(0)
    if flat.count(b":") != count:
        raise ValueError("every feature must be written index:value")
    index, value = numbers[0::2], numbers[1::2]
    if np.any(index < 0) or np.any(index != np.floor(index)):
        raise ValueError("feature indices must be non-negative integers")
    width = int(index.max()) + 1 if count else 0
    matrix = sp.csr_matrix((value, index.astype(np.int64), np.array(indptr, dtype=np.int64)),
                           shape=(len(labels), width))
    return matrix, _numbers(b" ".join(labels), len(labels))


def _numbers(text: bytes, expected: int) -> FloatArray:
    try:
        values = np.array(text.split(), dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"a value is not a number: {exc}") from exc
    if values.size != expected:
        raise ValueError("a line has a malformed index:value pair")
    return values


def with_width(features: Features, width: int) -> Features:
    """``features`` with ``width`` columns: sparse matrices are padded with empty columns."""
    if features.shape[1] == width:
        return features
    if sp.issparse(features) and features.shape[1] < width:
        csr = sp.csr_matrix(features)
        return sp.csr_matrix((csr.data, csr.indices, csr.indptr), shape=(csr.shape[0], width))
    raise AlgorithmError(
        f"The data has {features.shape[1]} feature columns where {width} are expected.")


def _parse_csv(channel: Channel, path: Path, data: bytes) -> FloatArray:
    text = _decode(channel, path, data)
    if not text.strip():
        return np.empty((0, 0))
    try:
        return np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        # loadtxt cannot say which line is wrong and rejects empty (missing) fields: re-read
        # line by line, accepting empties as NaN and naming the first bad field.
        return _parse_csv_lines(channel, path, text)


def _parse_csv_lines(channel: Channel, path: Path, text: str) -> FloatArray:
    rows: list[list[float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row = [_csv_field(channel, path, number, column, field)
               for column, field in enumerate(line.split(","))]
        if rows and len(row) != len(rows[0]):
            raise AlgorithmError(
                f"Line {number} of {channel.relative(path)} has {len(row)} columns but the "
                f"first line has {len(rows[0])}. Every CSV row needs the same columns.")
        rows.append(row)
    return np.asarray(rows, dtype=np.float64)


def _csv_field(channel: Channel, path: Path, line: int, column: int, field: str) -> float:
    text = field.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise AlgorithmError(
            f"Could not parse line {line}, column {column} of {channel.relative(path)}: "
            f"{text[:40]!r} is not a number. CSV training data must be numeric, with no header "
            f"row and the label in column 0.") from None


def _decode(channel: Channel, path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AlgorithmError(
            f"{channel.relative(path)} is not UTF-8 text (byte {exc.start}); is it compressed? "
            f"Set the channel's CompressionType to Gzip for .gz files.") from exc


def _listing(channel: Channel) -> str:
    files = [channel.relative(p) for p in channel.files()]
    return ", ".join(files[:5]) + (" ..." if len(files) > 5 else "") if files else "none"

"""Request-body parsing and content negotiation, in-process."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from cove.serving import _codecs
from cove.serving._errors import BadRequest, UnsupportedAccept, UnsupportedContentType
from cove.serving._media import choose_accept, media_type, parse_csv


@pytest.mark.parametrize("body, want", [
    (b"1,2,3", [[1, 2, 3]]),
    (b"1,2,3\n", [[1, 2, 3]]),
    (b"1,2\r\n3,4\r\n\r\n", [[1, 2], [3, 4]]),
    (b"1.5,-2e3,0.1", [[1.5, -2000.0, 0.1]]),
    (b" 1 , 2 ", [[1, 2]]),
    ("0.25,7", [[0.25, 7]]),
    (b"-3,+4", [[-3, 4]]),
    (b"9007199254740993,1", [[9007199254740992.0, 1]]),  # float64's rounding, as float() does
])
def test_parse_csv(body: bytes | str, want: list[list[float]]) -> None:
    parsed = parse_csv(body)

    assert parsed.dtype == np.float64
    np.testing.assert_array_equal(parsed, np.asarray(want, dtype=np.float64))


def test_parse_csv_reads_repr_floats_exactly() -> None:
    rows = np.random.default_rng(0).normal(size=(50, 7)) * 1e3
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode()

    np.testing.assert_array_equal(parse_csv(body), rows)


def test_empty_fields_are_nan() -> None:
    parsed = parse_csv(b"1,,3\n,5,\n")

    np.testing.assert_array_equal(np.isnan(parsed), [[False, True, False], [True, False, True]])


@pytest.mark.parametrize("body, message", [
    (b"", "empty"),
    (b"1,2\n3\n", "line 2 has 1 fields but the first line has 2"),
    (b"1,2\n3,abc\n", "line 2, column 2: 'abc' is not a number"),
    (b"label,feature\n1,2\n", "line 1, column 1: 'label' is not a number"),
])
def test_bad_csv(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_csv(body)


def test_media_types_and_accept_lists() -> None:
    assert media_type("Text/CSV; charset=utf-8") == "text/csv"
    assert media_type(None) == ""
    assert choose_accept("application/xml, text/csv;q=0.5", ("text/csv",)) == "text/csv"
    assert choose_accept("application/xml", ("text/csv",)) is None


@pytest.mark.parametrize("accept, default, want", [
    ("text/csv", None, "text/csv"),
    ("text/csv;q=0.5, application/json", None, "application/json"),  # q ranks, not order
    ("application/json;q=0.2, text/csv;q=0.9", None, "text/csv"),
    ("text/csv, application/json", None, "text/csv"),  # equal q: the order listed
    ("text/html, */*;q=0.1", "application/json", "application/json"),  # the default
    ("text/html, */*", None, "text/csv"),  # no default: the first supported
    ("text/*", "application/json", "text/csv"),
    ("application/*;q=0.5, text/csv;q=0", None, "application/json"),  # q=0 refuses
    ("text/csv;q=0", None, None),
    ("text/csv;q=oops", None, "text/csv"),  # a malformed weight is ignored
    ("text/html", "application/json", None),
])
def test_accept_negotiation(accept: str, default: str | None, want: str | None) -> None:
    assert choose_accept(accept, ("text/csv", "application/json"), default) == want


def test_default_codecs() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.arange(6).reshape(2, 3))

    assert _codecs.decode('[[1, 2]]', "application/json").tolist() == [[1, 2]]
    assert _codecs.decode(buffer.getvalue(), "application/x-npy").shape == (2, 3)
    assert _codecs.encode(np.array([[1.5, 2.0]]), "text/csv") == (b"1.5,2.0\n", "text/csv")
    assert _codecs.encode(np.array([0.1, 2], dtype=np.float32), "text/csv")[0] == b"0.1\n2.0\n"
    assert json.loads(_codecs.encode(np.arange(3), "application/json")[0]) == [0, 1, 2]
    with pytest.raises(UnsupportedContentType):
        _codecs.decode(b"x", "image/png")
    with pytest.raises(UnsupportedAccept):
        _codecs.encode([1], "image/png")
    with pytest.raises(BadRequest, match="not a .npy"):
        _codecs.decode(b"nope", "application/x-npy")


@pytest.mark.parametrize("body", [b"", b"PK\x03\x04 truncated", b"garbage"])
def test_unreadable_npz_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(BadRequest, match="not a scipy.sparse .npz"):
        _codecs.decode(body, "application/x-npz")

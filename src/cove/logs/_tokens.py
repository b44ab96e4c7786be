"""Opaque continuation tokens: ``<kind>/<base64url JSON list>``, checked on the way back in.

A token holds only a position (a name, or a timestamp and event id), so any well-formed token
of the right kind is a valid place to resume; anything else is InvalidParameterException.
``kind`` keeps one operation's tokens out of another's (GetLogEvents uses ``f`` and ``b``, like
AWS's forward and backward tokens).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cove.logs._errors import InvalidParameterException

MAX_TOKEN_CHARS = 4096
_INT64 = (-(2**63), 2**63 - 1)


def encode(kind: str, *values: int | str) -> str:
    payload = json.dumps(list(values), separators=(",", ":")).encode()
    return f"{kind}/{base64.urlsafe_b64encode(payload).rstrip(b'=').decode()}"


def decode(token: Any, kinds: str, shape: tuple[type, ...]) -> tuple[str, list[Any]]:
    """(kind, values) of ``token``, whose kind must be one of ``kinds`` and whose values must
    have the types in ``shape``."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise _invalid()
    kind, _, body = token.partition("/")
    if len(kind) != 1 or kind not in kinds:
        raise _invalid()
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
        values = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise _invalid() from exc
    if not isinstance(values, list) or len(values) != len(shape) or not all(
            type(v) is t for v, t in zip(values, shape, strict=True)) or not all(
            _INT64[0] <= v <= _INT64[1] for v in values if type(v) is int):
        raise _invalid()
    return kind, values


def _invalid() -> InvalidParameterException:
    return InvalidParameterException("The specified nextToken is invalid.")

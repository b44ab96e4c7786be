"""Small pieces every SageMaker resource uses: ARNs, list pagination, S3 URIs, errors."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote

from cove import errors

T = TypeVar("T")


def arn(region: str, account: str, kind: str, name: str) -> str:
    """``arn:aws:sagemaker:<region>:<account>:<kind>/<name>`` (SageMaker lower-cases names)."""
    return f"arn:aws:sagemaker:{region}:{account}:{kind}/{name.lower()}"


def name_from_arn(value: str) -> str:
    return value.rsplit("/", 1)[-1]


def not_found(kind: str, name: str) -> errors.ValidationError:
    """The error a Describe of a missing resource raises (clients look for "Could not find")."""
    return errors.ValidationError(f"Could not find {kind} '{name}'.")


def epoch_seconds(value: Any) -> float:
    """A request timestamp (epoch seconds, or ISO 8601 as some clients send) as epoch seconds."""
    if isinstance(value, int | float):
        return float(value)
    from datetime import datetime

    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def milliseconds(value: Any) -> int:
    """A time as whole epoch milliseconds, the resolution time filters compare at: a client
    that echoes a time it was given (a float through a datetime and back) may be a microsecond
    off, and "created before X" must still leave X itself out."""
    return round(epoch_seconds(value) * 1000)


def parse_s3_uri(uri: str, what: str = "S3 URI") -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise errors.ValidationError(f"{what} {uri!r} must start with s3://")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket:
        raise errors.ValidationError(f"{what} {uri!r} names no bucket")
    return bucket, key


#: S3's https URLs: virtual-hosted (``https://bucket.s3[.-]region.amazonaws.com/key``) and
#: path-style (``https://s3[.-]region.amazonaws.com/bucket/key``), as botocore's pattern for
#: ModelDataUrl allows them.
_VIRTUAL_HOSTED = re.compile(r"^https://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\.s3"
                             r"(?:[.-][a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?/(?P<key>.+)$")
_PATH_STYLE = re.compile(r"^https://s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?/"
                         r"(?P<bucket>[^/]+)/(?P<key>.+)$")


def s3_location(uri: str, what: str = "S3 URI") -> tuple[str, str]:
    """(bucket, key) of an ``s3://`` URI or of an S3 https URL (virtual-hosted or
    path-style, the key percent-decoded)."""
    if not uri.startswith("https://"):
        return parse_s3_uri(uri, what)
    match = _VIRTUAL_HOSTED.match(uri) or _PATH_STYLE.match(uri)
    if match is None:
        raise errors.ValidationError(
            f"{what} {uri!r} is not an S3 location: use s3://bucket/key, "
            "https://bucket.s3.<region>.amazonaws.com/key or "
            "https://s3.<region>.amazonaws.com/bucket/key")
    return match["bucket"], unquote(match["key"])


def as_s3_uri(uri: str, what: str = "S3 URI") -> str:
    """The ``s3://bucket/key`` form of an S3 location given either way."""
    bucket, key = s3_location(uri, what)
    return f"s3://{bucket}/{key}"


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_token: str | None

    def response(self, key: str, items: list[Any] | None = None,
                 token_key: str = "NextToken") -> dict[str, Any]:
        """A List response: ``items`` (this page's by default) under ``key``, and the token of
        the next page when there is one."""
        result: dict[str, Any] = {key: self.items if items is None else items}
        if self.next_token:
            result[token_key] = self.next_token
        return result


def paginate(items: Sequence[T], params: dict[str, Any], default_max: int = 10,
             limit: int = 100) -> Page:
    """Cut ``items`` (already filtered and sorted) at ``NextToken``/``MaxResults``."""
    start = _decode_token(params["NextToken"]) if params.get("NextToken") else 0
    size = int(params.get("MaxResults") or default_max)
    size = max(1, min(size, limit))
    chunk = list(items[start:start + size])
    more = start + size < len(items)
    return Page(chunk, _encode_token(start + size) if more else None)


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise errors.ValidationError("The NextToken is invalid: pass the NextToken of the "
                                     "previous response unchanged.") from exc
    if not isinstance(offset, int) or offset < 0:
        raise errors.ValidationError("The NextToken is invalid.")
    return offset


def matches_filters(d: dict[str, Any], params: dict[str, Any], name_key: str,
                    status_key: str) -> bool:
    """Whether a Describe document passes a List call's NameContains / StatusEquals /
    CreationTime* / LastModifiedTime* filters."""
    checks: list[tuple[str, Callable[[Any], bool]]] = [
        ("NameContains", lambda v: str(v).lower() in d[name_key].lower()),
        ("StatusEquals", lambda v: d[status_key] == v),
        ("CreationTimeAfter", lambda v: milliseconds(d["CreationTime"]) > milliseconds(v)),
        ("CreationTimeBefore", lambda v: milliseconds(d["CreationTime"]) < milliseconds(v)),
        ("LastModifiedTimeAfter",
         lambda v: milliseconds(d["LastModifiedTime"]) > milliseconds(v)),
        ("LastModifiedTimeBefore",
         lambda v: milliseconds(d["LastModifiedTime"]) < milliseconds(v)),
    ]
    return all(check(params[name]) for name, check in checks if name in params)


"""S3 wire details shared by the handlers: XML in and out, HTTP dates, ranges, headers, digests."""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from starlette.responses import Response

from cove import errors
from cove.objects._base import DEFAULT_CONTENT_TYPE, ObjectAttributes, WriteCondition
from cove.objects._checksums import ALGORITHMS, checksum_of

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_KEY_BYTES = 1024
MAX_SINGLE_PUT = 5 * 1024**3
STORED_HEADERS = ("Content-Encoding", "Content-Disposition", "Content-Language",
                  "Cache-Control", "Expires", "x-amz-website-redirect-location")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


# --- XML --------------------------------------------------------------------------------------

def el(tag: str, value: Any) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{tag}>{escape(str(value))}</{tag}>"


def xml_response(root: str, inner: str, headers: Mapping[str, str] | None = None,
                 status: int = 200) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{S3_NS}">{inner}</{root}>'
    return Response(body, status, media_type="application/xml", headers=dict(headers or {}))


def parse_xml(body: bytes) -> ET.Element:
    """Parse a request document, dropping namespaces; anything malformed is MalformedXML."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise errors.MalformedXML("The XML you provided was not well-formed or did not "
                                  "validate against our published schema.") from exc
    for node in root.iter():
        if isinstance(node.tag, str) and "}" in node.tag:
            node.tag = node.tag.split("}", 1)[1]
    return root


def child_text(node: ET.Element, tag: str) -> str:
    found = node.find(tag)
    return (found.text or "").strip() if found is not None else ""


# --- times ------------------------------------------------------------------------------------

def http_date(ts: float) -> str:
    return email.utils.formatdate(int(ts), usegmt=True)


def iso_date(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def parse_http_date(value: str) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


# --- names ------------------------------------------------------------------------------------

def check_bucket_name(name: str) -> None:
    if (not _BUCKET_RE.match(name) or ".." in name or ".-" in name or "-." in name
            or _IP_RE.match(name) or name.startswith(("xn--", "sthree-"))
            or name.endswith(("-s3alias", "--ol-s3"))):
        raise errors.InvalidBucketName(
            "The specified bucket is not valid: bucket names have 3-63 characters, lower-case "
            "letters, digits, dots and hyphens, and begin and end with a letter or digit.",
            BucketName=name)


def check_key(key: str) -> None:
    if not key:
        raise errors.InvalidArgument("An object key must not be empty.")
    if len(key.encode("utf-8", "surrogateescape")) > MAX_KEY_BYTES:
        raise errors.KeyTooLong("Your key is too long: at most 1024 bytes of UTF-8.",
                                Size=str(len(key.encode("utf-8", "surrogateescape"))))


def url_encode(value: str) -> str:
    return quote(value, safe="/")


# --- request headers --------------------------------------------------------------------------

def attributes_from(headers: Mapping[str, str]) -> ObjectAttributes:
    stored = {}
    for name in STORED_HEADERS:
        value = headers.get(name.lower())
        if value is not None:
            stored[name] = value
    encoding = _stored_encoding(stored.pop("Content-Encoding", None))
    if encoding:
        stored["Content-Encoding"] = encoding
    meta = {k[len("x-amz-meta-"):]: _from_utf8(v) for k, v in headers.items()
            if k.startswith("x-amz-meta-")}
    return ObjectAttributes(headers.get("content-type") or DEFAULT_CONTENT_TYPE, stored, meta)


def _stored_encoding(value: str | None) -> str:
    """Content-Encoding as S3 stores it: without ``aws-chunked``, which only framed the
    upload."""
    if value is None:
        return ""
    kept = [c.strip() for c in value.split(",") if c.strip().lower() != "aws-chunked"]
    return ", ".join(c for c in kept if c)


def _from_utf8(value: str) -> str:
    """HTTP hands header bytes over as latin-1; SDKs send metadata as UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _to_header(value: str) -> str:
    """Metadata back as HTTP carries it: latin-1 when it fits (what SDKs decode), else the
    UTF-8 bytes."""
    try:
        value.encode("latin-1")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("latin-1")


def attribute_headers(attributes: ObjectAttributes) -> dict[str, str]:
    out = dict(attributes.headers)
    out.update({f"x-amz-meta-{k}": _to_header(v) for k, v in attributes.user_metadata.items()})
    return out


def declared_length(headers: Mapping[str, str], limit: int = MAX_SINGLE_PUT) -> int:
    """The payload size the client announced; over ``limit`` fails before any byte is read."""
    raw = headers.get("x-amz-decoded-content-length") or headers.get("content-length")
    if raw is None:
        if "chunked" in headers.get("transfer-encoding", ""):
            return 0
        raise errors.MissingContentLength("You must provide the Content-Length HTTP header.")
    try:
        size = int(raw)
    except ValueError as exc:
        raise errors.InvalidArgument(f"Content-Length {raw!r} is not a number.") from exc
    if size > limit:
        raise errors.EntityTooLarge("Your proposed upload exceeds the maximum allowed size: "
                                    f"{size} bytes, over the limit of {limit}.",
                                    ProposedSize=str(size), MaxSizeAllowed=str(limit))
    return size


def requested_checksums(headers: Mapping[str, str]) -> dict[str, str]:
    """algorithm -> expected base64 value ("" when it comes later, in a trailer)."""
    wanted: dict[str, str] = {}
    for algorithm in ALGORITHMS:
        value = headers.get(f"x-amz-checksum-{algorithm.lower()}")
        if value is not None:
            wanted[algorithm] = value
    for name in (headers.get("x-amz-trailer") or "").split(","):
        name = name.strip().lower()
        if name.startswith("x-amz-checksum-"):
            algorithm = name[len("x-amz-checksum-"):].upper()
            if algorithm not in ALGORITHMS:
                raise errors.InvalidRequest(f"Unsupported checksum trailer {name!r}.")
            wanted.setdefault(algorithm, "")
    sdk = headers.get("x-amz-sdk-checksum-algorithm", "").upper()
    if sdk:
        if sdk not in ALGORITHMS:
            raise errors.InvalidRequest(f"Checksum algorithm {sdk!r} is not supported; use one "
                                        f"of {', '.join(ALGORITHMS)}.")
        wanted.setdefault(sdk, "")
    return wanted


def verify_digests(headers: Mapping[str, str], trailers: Mapping[str, str], md5: bytes,
                   computed: Mapping[str, str], wanted: Mapping[str, str]) -> None:
    """Check Content-MD5 and every x-amz-checksum-* the client sent (header or trailer)."""
    content_md5 = headers.get("content-md5")
    if content_md5 is not None:
        try:
            given = base64.b64decode(content_md5, validate=True)
        except binascii.Error as exc:
            raise errors.InvalidDigest("The Content-MD5 you specified is not valid.") from exc
        if len(given) != 16:
            raise errors.InvalidDigest("The Content-MD5 you specified is not valid.")
        if given != md5:
            raise errors.BadDigest("The Content-MD5 you specified did not match what we received.")
    for algorithm, value in wanted.items():
        expected = value or trailers.get(f"x-amz-checksum-{algorithm.lower()}", "")
        if not expected:
            raise errors.InvalidRequest(f"The {algorithm} checksum was announced but not sent.")
        if expected != computed.get(algorithm):
            raise errors.BadDigest(f"The {algorithm} you specified did not match the calculated "
                                   "checksum.")


def verify_small_body(headers: Mapping[str, str], body: bytes) -> None:
    """Digest checks for request documents read whole (DeleteObjects, Complete...)."""
    wanted = requested_checksums(headers)
    verify_digests(headers, {}, hashlib.md5(body).digest(),
                   {a: checksum_of(a, body) for a in wanted}, wanted)


# --- ranges and conditions --------------------------------------------------------------------

def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``a-`` / ``-n`` -> (start, end inclusive); None means the whole object."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[len("bytes="):].strip().partition("-")
    try:
        if first == "":
            if not last:
                return None
            suffix = int(last)
            if suffix == 0:
                raise _unsatisfiable(size)
            return max(size - suffix, 0), size - 1
        start = int(first)
        end = int(last) if last else max(start, size - 1)
    except ValueError:
        return None
    if end < start:
        return None
    if start >= size:
        raise _unsatisfiable(size)
    return start, min(end, size - 1)


def _unsatisfiable(size: int) -> errors.InvalidRange:
    return errors.InvalidRange("The requested range is not satisfiable",
                               ActualObjectSize=str(size))


def check_conditions(headers: Mapping[str, str], etag: str, last_modified: float,
                     prefix: str = "") -> int | None:
    """Evaluate If-Match & co. (RFC 7232 as S3 applies it): 304, 412 or None to go on."""

    def get(name: str) -> str | None:
        return headers.get(prefix + name)

    modified = int(last_modified)
    if_match, if_none_match = get("if-match"), get("if-none-match")
    if if_match is not None:
        if not _etag_in(if_match, etag):
            return 412
    elif (since := parse_http_date(get("if-unmodified-since") or "")) is not None \
            and modified > since:
        return 412
    if if_none_match is not None:
        if _etag_in(if_none_match, etag):
            return 304
    elif (since := parse_http_date(get("if-modified-since") or "")) is not None \
            and modified <= since:
        return 304
    return None


def _etag_in(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/").strip('"') for t in header.split(",")]
    return "*" in tags or etag.strip('"') in tags


def write_condition(headers: Mapping[str, str]) -> WriteCondition:
    return WriteCondition(headers.get("if-match"), headers.get("if-none-match"))

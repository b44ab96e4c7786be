"""AWS Signature Version 4, verified server-side: Authorization headers and presigned URLs.

The canonical request is rebuilt from what arrived on the wire (raw path, raw query, headers)
exactly as botocore builds it before sending, then signed with the secret the access key maps
to.  Any difference — another secret, a changed header, a changed body hash — changes the
signature.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote

from cove import errors
from cove.identity import Principal

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW_SECONDS = 15 * 60
MAX_PRESIGN_SECONDS = 7 * 24 * 3600

_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-fA-F]+)\s*$")


@dataclass(frozen=True)
class Credential:
    """The parsed ``Credential=AKID/date/region/service/aws4_request`` scope."""

    access_key_id: str
    date: str
    region: str
    service: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"

    @classmethod
    def parse(cls, text: str) -> Credential:
        parts = text.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
            raise errors.AuthorizationQueryParametersError(
                f"Error parsing the X-Amz-Credential parameter {text!r}; expected "
                "AKID/YYYYMMDD/region/service/aws4_request")
        return cls(*parts[:4])


@dataclass(frozen=True)
class SignedRequest:
    """A request whose signature checked out, with what the body must still be checked against."""

    principal: Principal
    credential: Credential
    amz_date: str
    signature: str
    signing_key: bytes
    payload_hash: str
    presigned: bool


@dataclass
class WireRequest:
    method: str
    raw_path: str  # percent-encoded, as sent
    raw_query: str
    headers: list[tuple[str, str]]  # lower-case names, in arrival order
    _by_name: dict[str, str] = field(init=False, repr=False)
    _authorization: tuple[Credential, list[str], str] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        joined: dict[str, str] = {}
        for name, value in self.headers:  # repeated headers joined, as signers join them
            joined[name] = f"{joined[name]},{value}" if name in joined else value
        self._by_name = joined

    def header(self, name: str) -> str | None:
        return self._by_name.get(name)

    @property
    def authorization(self) -> tuple[Credential, list[str], str] | None:
        """``(credential, signed header names, signature)`` of a well-formed SigV4
        Authorization header, else None; parsed once per request (both routing and
        verification read it)."""
        try:
            return self._authorization
        except AttributeError:
            pass
        auth = self.header("authorization")
        match = _AUTH_RE.match(auth.strip()) if auth else None
        self._authorization = None if match is None else (
            Credential.parse(match["credential"]), match["signed"].split(";"),
            match["signature"].lower())
        return self._authorization


def credential_of(request: WireRequest) -> Credential | None:
    """The credential scope a request claims, read without verifying anything."""
    if request.header("authorization"):
        parsed = request.authorization
        return parsed[0] if parsed else None
    for name, value in _query_pairs(request.raw_query):
        if name == "AWSAccessKeyId":  # an S3 query-string (SigV2) presigned URL
            return Credential(value, "", "", "s3")
        if name == "X-Amz-Credential":
            try:
                return Credential.parse(value)
            except errors.CoveError:
                return None
    return None


class Verifier:
    """Checks SigV4 signatures against the secrets ``lookup`` knows; ``clock`` is injectable."""

    def __init__(self, lookup: Callable[[str], Principal | None],
                 clock: Callable[[], float] = time.time) -> None:
        self.lookup = lookup
        self.clock = clock

    def verify(self, request: WireRequest, payload_hash: Callable[[], str]) -> SignedRequest:
        """Verify ``request``; ``payload_hash()`` gives the body's hash for non-S3 services."""
        auth = request.header("authorization")
        if auth is not None:
            return self._verify_header(request, auth, payload_hash)
        if "X-Amz-Signature=" in request.raw_query:
            return self._verify_presigned(request)
        if "AWSAccessKeyId=" in request.raw_query:
            return self._verify_presigned_v2(request)
        raise errors.MissingAuthentication(
            "Request is not signed: sign it with SigV4 (set the variables `cove env` prints).")

    def _verify_header(self, request: WireRequest, auth: str,
                       payload_hash: Callable[[], str]) -> SignedRequest:
        parsed = request.authorization
        if parsed is None:
            raise errors.InvalidArgument(
                "Unsupported Authorization header: only AWS4-HMAC-SHA256 is accepted.")
        credential, signed, signature = parsed
        principal = self._principal(credential, request.header("x-amz-security-token"))
        amz_date = request.header("x-amz-date") or ""
        issued = _parse_amz_date(amz_date)
        if abs(self.clock() - issued) > MAX_SKEW_SECONDS:
            raise errors.RequestTimeTooSkewed(
                "The difference between the request time and the server's time is too large.")
        if credential.service == "s3":
            hashed = request.header("x-amz-content-sha256")
            if not hashed:
                raise errors.InvalidRequest("Missing required header for this request: "
                                            "x-amz-content-sha256")
        else:
            hashed = payload_hash()
        query = _canonical_query(request.raw_query, exclude=None)
        return self._check(request, principal, credential, amz_date, signed, query, hashed,
                           signature, presigned=False)

    def _verify_presigned(self, request: WireRequest) -> SignedRequest:
        params = dict(_query_pairs(request.raw_query))
        if params.get("X-Amz-Algorithm") != ALGORITHM:
            raise errors.AuthorizationQueryParametersError(
                "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
        credential = Credential.parse(params.get("X-Amz-Credential", ""))
        principal = self._principal(credential, params.get("X-Amz-Security-Token")
                                    or request.header("x-amz-security-token"))
        amz_date = params.get("X-Amz-Date", "")
        issued = _parse_amz_date(amz_date)
        try:
            expires = int(params.get("X-Amz-Expires", ""))
        except ValueError as exc:
            raise errors.AuthorizationQueryParametersError(
                "X-Amz-Expires should be a number") from exc
        _check_expires(expires)
        now = self.clock()
        if now > issued + expires:
            details: dict[str, Any] = {"X-Amz-Expires": str(expires)}
            raise errors.RequestExpired("Request has expired", **details,
                                        Expires=_iso(issued + expires), ServerTime=_iso(now))
        if issued - now > MAX_SKEW_SECONDS:
            raise errors.RequestTimeTooSkewed("Request is not valid yet")
        signed = params.get("X-Amz-SignedHeaders", "host").split(";")
        hashed = params.get("X-Amz-Content-Sha256") or request.header(
            "x-amz-content-sha256") or UNSIGNED_PAYLOAD
        query = _canonical_query(request.raw_query, exclude="X-Amz-Signature")
        return self._check(request, principal, credential, amz_date, signed, query, hashed,
                           params.get("X-Amz-Signature", "").lower(), presigned=True)

    def _verify_presigned_v2(self, request: WireRequest) -> SignedRequest:
        """S3's query-string authentication (SigV2), what boto3's presigned URLs use by default."""
        params = dict(_query_pairs(request.raw_query))
        credential = Credential(params["AWSAccessKeyId"], "", "", "s3")
        principal = self._principal(credential, params.get("x-amz-security-token")
                                    or request.header("x-amz-security-token"))
        try:
            expires = int(params.get("Expires", ""))
        except ValueError as exc:
            raise errors.AuthorizationQueryParametersError("Expires must be a number") from exc
        if self.clock() > expires:
            raise errors.RequestExpired("Request has expired", Expires=str(expires))
        # botocore moves a temporary key's x-amz-security-token into the query, signed as
        # the header it would have been
        amz_headers = sorted([(k, v.strip()) for k, v in request.headers
                              if k.startswith("x-amz-")] + [
            (k, v.strip()) for k, v in _query_pairs(request.raw_query)
            if k == "x-amz-security-token"])
        string_to_sign = "\n".join([
            request.method, request.header("content-md5") or "",
            request.header("content-type") or "", str(expires),
            "".join(f"{k}:{v}\n" for k, v in amz_headers) + _v2_resource(request)])
        expected = base64.b64encode(hmac.new(principal.secret_access_key.encode(),
                                             string_to_sign.encode(), hashlib.sha1).digest())
        if not hmac.compare_digest(expected.decode(), params.get("Signature", "")):
            raise errors.SignatureDoesNotMatch(
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.", StringToSign=string_to_sign)
        return SignedRequest(principal, credential, "", params["Signature"], b"",
                             UNSIGNED_PAYLOAD, presigned=True)

    def _principal(self, credential: Credential, token: str | None) -> Principal:
        principal = self.lookup(credential.access_key_id)
        if principal is None:
            raise errors.InvalidAccessKeyId(
                "The AWS Access Key Id you provided does not exist in our records: use the "
                "credentials `cove env` prints.", AWSAccessKeyId=credential.access_key_id)
        if principal.session_token is not None:
            _check_token(principal, credential, token, self.clock())
        return principal

    def _check(self, request: WireRequest, principal: Principal, credential: Credential,
               amz_date: str, signed: list[str], query: str, payload_hash: str, signature: str,
               *, presigned: bool) -> SignedRequest:
        if not amz_date.startswith(credential.date):
            raise errors.SignatureDoesNotMatch(
                "The credential date does not match the request date.")
        if "host" not in signed:
            raise errors.SignatureDoesNotMatch("The host header must be signed.")
        canonical = "\n".join([
            request.method,
            _canonical_path(request.raw_path, credential.service),
            query,
            "".join([f"{name}:{_header_value(request, name)}\n" for name in signed]),
            ";".join(signed),
            payload_hash,
        ])
        string_to_sign = "\n".join([ALGORITHM, amz_date, credential.scope,
                                    hashlib.sha256(_utf8(canonical)).hexdigest()])
        key = signing_key(principal.secret_access_key, credential.date, credential.region,
                          credential.service)
        expected = hmac.digest(key, _utf8(string_to_sign), "sha256").hex()
        if not hmac.compare_digest(expected, signature):
            raise errors.SignatureDoesNotMatch(
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.",
                StringToSign=string_to_sign, CanonicalRequest=canonical)
        _require_signed_amz_headers(request, signed)
        return SignedRequest(principal, credential, amz_date, signature, key, payload_hash,
                             presigned)


def _check_token(principal: Principal, credential: Credential, token: str | None,
                 now: float) -> None:
    """A temporary key is only half of its credentials: the session token issued with it must
    come too, as AWS requires (a token sent with cove's long-term key is ignored: a stale
    AWS_SESSION_TOKEN in a shell must not break it)."""
    s3 = credential.service == "s3"
    if token is None:  # as AWS: without its token, a temporary key is unknown
        raise errors.InvalidAccessKeyId(
            ("The AWS Access Key Id you provided does not exist in our records." if s3 else
             "The security token included in the request is invalid.")
            + " A temporary key (ASIA...) must be sent with its session token "
            "(AWS_SESSION_TOKEN; X-Amz-Security-Token on the wire).",
            AWSAccessKeyId=credential.access_key_id)
    assert principal.session_token is not None
    if not hmac.compare_digest(token.encode("utf-8", "surrogateescape"),
                               principal.session_token.encode()):
        raise errors.InvalidToken("The provided token is malformed or otherwise invalid." if s3
                                  else "The security token included in the request is invalid.")
    if principal.expires is not None and principal.expires < now:
        raise errors.ExpiredToken("The provided token has expired." if s3
                                  else "The security token included in the request is expired")


#: Covered without being listed: the payload hash is a line of the canonical request itself.
_IMPLICITLY_SIGNED = frozenset({"x-amz-content-sha256"})


def _require_signed_amz_headers(request: WireRequest, signed: list[str]) -> None:
    """S3's rule: every ``x-amz-*`` header sent must be signed, or anyone holding a presigned
    URL (or replaying a request) could add one that changes what it does."""
    covered = set(signed) | _IMPLICITLY_SIGNED
    unsigned = sorted({name for name, _ in request.headers
                       if name.startswith("x-amz-") and name not in covered})
    if unsigned:
        raise errors.HeadersNotSigned(
            "There were headers present in the request which were not signed",
            HeadersNotSigned=", ".join(unsigned))


def _check_expires(expires: int) -> None:
    if expires < 0:
        raise errors.AuthorizationQueryParametersError("X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGN_SECONDS:
        raise errors.AuthorizationQueryParametersError(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800")


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@lru_cache(maxsize=256)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _utf8(f"AWS4{secret}")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, _utf8(part), hashlib.sha256).digest()
    return key


#: The query parameters that SigV2 signs as part of the resource.
_V2_SUBRESOURCES = frozenset((
    "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory",
    "lifecycle", "location", "logging", "metrics", "notification", "object-lock", "partNumber",
    "policy", "replication", "requestPayment", "response-cache-control",
    "response-content-disposition", "response-content-encoding", "response-content-language",
    "response-content-type", "response-expires", "restore", "select", "select-type",
    "storageClass", "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning",
    "versions", "website"))


def _v2_resource(request: WireRequest) -> str:
    signed = sorted((n, v) for n, v in _query_pairs(request.raw_query) if n in _V2_SUBRESOURCES)
    query = "&".join(f"{n}={v}" if v else n for n, v in signed)
    return request.raw_path + (f"?{query}" if query else "")


def _header_value(request: WireRequest, name: str) -> str:
    value = request.header(name)
    if value is None:
        raise errors.SignatureDoesNotMatch(f"The signed header {name!r} is missing.")
    # Trimmed, inner runs of whitespace as one space: botocore's " ".join(value.split()).
    return " ".join(value.split())


def _canonical_path(raw_path: str, service: str) -> str:
    if service == "s3":
        return raw_path or "/"
    return _encoded_path(raw_path)


@lru_cache(maxsize=256)  # the same few paths again and again (an endpoint's invocations)
def _encoded_path(raw_path: str) -> str:
    return quote(_remove_dot_segments(raw_path) or "/", safe="/~", errors="surrogateescape")


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    result = "/".join(out)
    if path.startswith("/") and not result.startswith("/"):
        result = "/" + result
    if path.endswith("/") and not result.endswith("/"):
        result += "/"
    return result


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for piece in raw_query.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def _canonical_query(raw_query: str, exclude: str | None) -> str:
    if not raw_query:
        return ""
    encoded = sorted((quote(n, safe="-_.~"), quote(v, safe="-_.~"))
                     for n, v in _query_pairs(raw_query) if n != exclude)
    return "&".join(f"{n}={v}" for n, v in encoded)


def _utf8(text: str) -> bytes:
    """Text read off the wire as UTF-8 (undecodable bytes kept as surrogates) back to its bytes."""
    return text.encode("utf-8", "surrogateescape")


@lru_cache(maxsize=64)  # clients sign many requests within the same second
def _parse_amz_date(value: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))
    except ValueError as exc:
        raise errors.IncompleteSignature(
            "AWS authentication requires a valid X-Amz-Date (YYYYMMDD'T'HHMMSS'Z').") from exc

"""The edge: one ASGI app on one port that authenticates every AWS request and hands it to the
service its SigV4 credential scope names, rendering any error once in that service's shape."""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cove import errors
from cove.edge._chunked import STREAMING_SIGNED, STREAMING_UNSIGNED, ChunkDecoder
from cove.edge._sigv4 import (
    UNSIGNED_PAYLOAD,
    SignedRequest,
    Verifier,
    WireRequest,
    credential_of,
)
from cove.identity import ANONYMOUS
from cove.wire import MAX_JSON_BODY, SANDBOX_CSP, Body, Call, Service, render_error

log = logging.getLogger("cove.edge")

Hook = Callable[[], Awaitable[None]]
#: Decides, after the signature checked out, whether the request may go on (raises if not); it
#: gets the body when the edge read it whole (every service but S3).
Authorize = Callable[[Call, Service, bytes | None], None]

#: The largest DeleteObjects request read whole before it is authorised (1000 keys of 1 KiB).
MAX_DELETE_OBJECTS_BODY = 2 * 1024 * 1024

#: Request ids: unique per server run (a random prefix, then a count) without a syscall each.
_ID_PREFIX = os.urandom(4).hex().upper()
_request_numbers = itertools.count(1)


class Edge:
    """Routes: public prefixes first (health, console, gateway), then signed AWS requests."""

    def __init__(self, verifier: Verifier, services: list[Service],
                 public: dict[str, ASGIApp] | None = None,
                 on_startup: list[Hook] | None = None,
                 on_shutdown: list[Hook] | None = None,
                 authorize: Authorize | None = None) -> None:
        self.verifier = verifier
        self.authorize = authorize
        self.services = list(services)
        self.public = dict(public or {})
        self.on_startup = list(on_startup or [])
        self.on_shutdown = list(on_shutdown or [])

    def register(self, service: Service) -> None:
        self.services.append(service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        for prefix, app in self.public.items():
            if scope["path"] == prefix or scope["path"].startswith(prefix + "/"):
                await app(scope, receive, send)
                return
        request = Request(scope, receive)
        if _is_browser_visit(request):  # the address `cove up` prints, opened in a browser
            await RedirectResponse(console_url(), status_code=302)(scope, receive, send)
            return
        request_id = f"{_ID_PREFIX}{next(_request_numbers):08X}"
        service: Service | None = None
        try:
            wire = _wire(scope)
            service = self._service_for(request, wire)
            response = await service(await self._authenticate(request, wire, service,
                                                               request_id))
            if service.signing_name == "s3":  # an object opened in a browser is not cove's
                response.headers["content-security-policy"] = SANDBOX_CSP
        except errors.CoveError as exc:
            protocol = service.protocol if service else _guess_protocol(request)
            response = self._error(request, exc, protocol, request_id)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.url.path)
            protocol = service.protocol if service else _guess_protocol(request)
            response = self._error(request, errors.ServerError(
                "cove hit an internal error; the server log has the details."),
                protocol, request_id)
        await response(scope, receive, send)

    @staticmethod
    def _error(request: Request, exc: errors.CoveError, protocol: str,
               request_id: str) -> Response:
        response = render_error(exc, protocol, request_id, request.method)
        if _has_unread_body(request):
            # The client may still be sending (or, after Expect: 100-continue, never send) a
            # body we did not read: close the connection so it is not parsed as a request.
            response.headers["connection"] = "close"
        return response

    def _service_for(self, request: Request, wire: WireRequest) -> Service:
        credential = credential_of(wire)
        if _unsigned(wire) and _guess_protocol(request) == "rest-xml":
            # an unsigned S3 request: anonymous, it may do only what an ACL grants everyone
            return next(s for s in self.services if s.signing_name == "s3")
        if credential is None:
            raise errors.MissingAuthentication(
                "Request is not signed: sign it with SigV4 (set the variables `cove env` "
                "prints).")
        for service in self.services:
            if service.signing_name == credential.service and service.matches(request):
                return service
        served = ", ".join(sorted({s.signing_name for s in self.services}))
        raise errors.UnknownOperation(
            f"cove does not serve {credential.service!r} requests like "
            f"{request.method} {request.url.path} (it serves {served}).")

    async def _authenticate(self, request: Request, wire: WireRequest, service: Service,
                            request_id: str) -> Call:
        raw: bytes | None = None
        principal, region = ANONYMOUS, ""
        if service.signing_name == "s3" and _unsigned(wire):
            body = _anonymous_body(request)
            if request.method == "POST" and "delete" in request.query_params:
                raw = await body.read(MAX_DELETE_OBJECTS_BODY)
                body = Body.of(raw)
        elif service.signing_name == "s3":
            signed = self.verifier.verify(wire, lambda: UNSIGNED_PAYLOAD)
            principal, region = signed.principal, signed.credential.region
            body = _s3_body(request, signed)
            if request.method == "POST" and "delete" in request.query_params:
                # DeleteObjects names its keys in its body: each is authorised
                raw = await body.read(MAX_DELETE_OBJECTS_BODY)
                body = Body.of(raw)
        else:
            raw = await _read_capped(request, MAX_JSON_BODY)
            signed = self.verifier.verify(wire, lambda: _sha256(raw))
            principal, region = signed.principal, signed.credential.region
            body = Body.of(raw)
        call = Call(request, principal, region, request_id, body)
        if self.authorize is not None:
            self.authorize(call, service, raw)
        return call

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            hooks = {"lifespan.startup": self.on_startup,
                     "lifespan.shutdown": self.on_shutdown}.get(message["type"], [])
            try:
                for hook in hooks:
                    await hook()
            except Exception as exc:
                log.exception("%s failed", message["type"])
                await send({"type": message["type"] + ".failed", "message": str(exc)})
                return
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return


def _has_unread_body(request: Request) -> bool:
    if getattr(request, "_stream_consumed", False):
        return False
    headers = request.headers
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


def _wire(scope: Scope) -> WireRequest:
    raw_path = scope.get("raw_path") or scope["path"].encode()
    return WireRequest(
        method=scope["method"],
        raw_path=raw_path.decode("utf-8", "surrogateescape"),
        raw_query=scope["query_string"].decode("utf-8", "surrogateescape"),
        # botocore signs header values as text and sends them UTF-8 encoded: read them back so
        headers=[(k.decode("latin-1"), v.decode("utf-8", "surrogateescape"))
                 for k, v in scope["headers"]],
    )


def _s3_body(request: Request, signed: SignedRequest) -> Body:
    declared = signed.payload_hash
    stream = request.stream()
    if declared in STREAMING_SIGNED or declared == STREAMING_UNSIGNED:
        decoded = request.headers.get("x-amz-decoded-content-length")
        return Body(stream, chunked=ChunkDecoder(signed if declared in STREAMING_SIGNED else None),
                    decoded_length=int(decoded) if decoded and decoded.isdigit() else None)
    if declared == UNSIGNED_PAYLOAD:
        return Body(stream)
    if len(declared) != 64 or not all(c in "0123456789abcdef" for c in declared):
        raise errors.InvalidArgument(
            f"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-... or the hex SHA-256 "
            f"of the payload, not {declared!r}.")
    return Body(stream, expected_sha256=declared)


def _unsigned(wire: WireRequest) -> bool:
    """No signature at all, not even a malformed one (which is refused, not taken as
    anonymous)."""
    if wire.header("authorization"):
        return False
    names = {pair.partition("=")[0] for pair in wire.raw_query.split("&")}
    return not names & {"X-Amz-Credential", "X-Amz-Signature", "X-Amz-Algorithm",
                        "AWSAccessKeyId", "Signature"}


def _anonymous_body(request: Request) -> Body:
    """An unsigned request's body; aws-chunked framing (with trailing checksums) is decoded."""
    if request.headers.get("x-amz-content-sha256") == STREAMING_UNSIGNED:
        decoded = request.headers.get("x-amz-decoded-content-length")
        return Body(request.stream(), chunked=ChunkDecoder(None),
                    decoded_length=int(decoded) if decoded and decoded.isdigit() else None)
    return Body(request.stream())


async def _read_capped(request: Request, limit: int) -> bytes:
    pieces, size = [], 0
    async for data in request.stream():
        size += len(data)
        if size > limit:
            raise errors.ValidationError(f"The request body is larger than {limit} bytes.")
        pieces.append(data)
    return b"".join(pieces)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _guess_protocol(request: Request) -> str:
    """The protocol to answer in before we know the service (e.g. unsigned requests)."""
    if "x-amz-target" in request.headers:
        return "json"
    if request.url.path.startswith(("/2015-03-31/", "/endpoints/", "/v2/")):
        return "rest-json"
    if _is_query_protocol(request):
        return "query"
    return "rest-xml"


def _is_query_protocol(request: Request) -> bool:
    """A form POST (or a GET with ``Action=``) is the query protocol (IAM, SNS, STS...): S3
    never takes a form-encoded body."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and kind == "application/x-www-form-urlencoded":
        return True
    return "Action" in request.query_params


def console_url() -> str:
    """Where a browser that opens the API's address is sent: the console."""
    return "/ui/"


def _is_browser_visit(request: Request) -> bool:
    """An unsigned ``GET /`` that asks for HTML; a signed one (ListBuckets) keeps S3's meaning,
    and so does any request that carries a signature in its query."""
    return (request.method == "GET" and request.url.path == "/" and not request.url.query
            and "authorization" not in request.headers
            and "text/html" in request.headers.get("accept", ""))


def public_json(payload: Callable[[], dict[str, Any]]) -> ASGIApp:
    """A tiny unauthenticated JSON endpoint (health)."""
    from starlette.responses import JSONResponse

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await JSONResponse(payload())(scope, receive, send)

    return app

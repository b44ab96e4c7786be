"""The public side of the gateway: ``/gw/{apiId}/[{stage}/]{path}`` to a function and back.

These requests are not signed (an HTTP API route without an authorizer is public); the edge
hands the ``/gw`` prefix here before it looks for a signature, and nothing else.  The stage is
the first path segment when the API has a stage of that name, else ``$default``.  Errors are the
gateway's own JSON bodies: 404 ``Not Found``, 429 ``Too Many Requests``, 502 ``Internal Server
Error`` for a failed or malformed function, 503 ``Service Unavailable`` when the integration's
TimeoutInMillis passes first or the function is at its concurrency limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any
from urllib.parse import quote

from starlette.types import Receive, Scope, Send

from cove import errors
from cove.config import CONSOLE_COOKIE, CONSOLE_PATH
from cove.functions import Functions, Outcome
from cove.gateway._api import function_arn
from cove.gateway._events import (
    GatewayRequest,
    MalformedResponse,
    ProxyResponse,
    event_v1,
    event_v2,
    response_from,
)
from cove.gateway._gateway import Gateway, StageView
from cove.gateway._routes import choose
from cove.wire import SANDBOX_CSP

log = logging.getLogger("cove.gateway")

MAX_BODY = 10 * 1024 * 1024
PREFIX = "/gw"


def _message(status: int, text: str) -> ProxyResponse:
    return ProxyResponse(status, [("content-type", "application/json")],
                         json.dumps({"message": text}).encode())


NOT_FOUND = (404, "Not Found")
THROTTLED = (429, "Too Many Requests")
FAILED = (502, "Internal Server Error")
UNAVAILABLE = (503, "Service Unavailable")
TOO_LARGE = (413, "Request Entity Too Large")


class GatewayProxy:
    """The ASGI app the edge mounts at ``/gw``."""

    def __init__(self, gateway: Gateway, functions: Functions, account: str) -> None:
        self.gateway, self.functions, self.account = gateway, functions, account

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = uuid.uuid4().hex[:16]
        try:
            request, view = await self._request(scope, receive, request_id)
            response = await self._answer(request, view) if view is not None else _message(
                *NOT_FOUND)
            if view is not None:
                _add_cors(response, view, request)
        except _Refused as refused:
            response = _message(*refused.args)
        except Exception:  # a bug in cove: API Gateway's own answer, the details in the log
            log.exception("the gateway failed on %s %s", scope["method"], scope["path"])
            response = _message(500, "Internal Server Error")
        _confine(response, _api_root(scope))
        await _send(send, response, request_id)

    async def _request(self, scope: Scope, receive: Receive,
                       request_id: str) -> tuple[GatewayRequest, StageView | None]:
        raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        _, _, rest = raw[len(PREFIX) + 1:].partition("/")
        api_id = raw[len(PREFIX) + 1:].split("/", 1)[0]
        rest = "/" + rest
        first, _, remainder = rest[1:].partition("/")
        stage = "$default"
        if first and first != "$default" and await self._view(api_id, first) is not None:
            stage, route_path = first, "/" + remainder
        else:
            route_path = rest
        body = await _read(receive)
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1"))
                   for k, v in scope["headers"]]
        client = scope.get("client") or ("127.0.0.1", 0)
        request = GatewayRequest(scope["method"], rest if stage == "$default" else raw[
            len(PREFIX) + 1 + len(api_id):], route_path, scope["query_string"].decode("latin-1"),
            headers, body, client[0], api_id, stage, self.account, request_id)
        return request, await self._view(api_id, stage)

    async def _view(self, api_id: str, stage: str) -> StageView | None:
        """The stage from memory, or from the database in a worker thread (never on the loop)."""
        known, view = self.gateway.cached(api_id, stage)
        if known:
            return view
        return await asyncio.to_thread(self.gateway.view, api_id, stage)

    async def _answer(self, request: GatewayRequest, view: StageView) -> ProxyResponse:
        cors = view.api.get("CorsConfiguration")
        if cors and request.method == "OPTIONS" and request.header("origin") and request.header(
                "access-control-request-method"):
            return _preflight(cors, request)
        found = choose(view.routes, request.method, request.route_path)
        if found is None:
            return _message(*NOT_FOUND)
        route, params = found
        bucket = view.bucket(route.key)
        if bucket is not None and not bucket.take():
            return _message(*THROTTLED)
        integration = route.integration
        variables = view.stage.get("StageVariables") or {}
        if integration["PayloadFormatVersion"] == "1.0":
            event = event_v1(request, route.key, route.resource, params, variables)
        else:
            event = event_v2(request, route.key, params, variables)
        outcome = await self._invoke(integration, event)
        if isinstance(outcome, ProxyResponse):
            return outcome
        if outcome.error:
            log.warning("API %s route %s: the function failed: %s", request.api_id, route.key,
                        outcome.payload[:1000].decode("utf-8", "replace"))
            return _message(*FAILED)
        try:
            return response_from(outcome.payload, integration["PayloadFormatVersion"])
        except MalformedResponse as exc:
            log.warning("API %s route %s: %s", request.api_id, route.key, exc)
            return _message(*FAILED)

    async def _invoke(self, integration: dict[str, Any],
                      event: dict[str, Any]) -> Outcome | ProxyResponse:
        name = function_arn(integration["IntegrationUri"]).split(":")[6]
        task = asyncio.ensure_future(self.functions.invoke(
            name, json.dumps(event).encode(), wait=False))
        done, _ = await asyncio.wait({task}, timeout=integration["TimeoutInMillis"] / 1000)
        if not done:  # the invocation finishes on its own; the caller stops waiting
            task.add_done_callback(_ignore)
            return _message(*UNAVAILABLE)
        try:
            return task.result()
        except errors.TooManyRequests:
            return _message(*UNAVAILABLE)
        except errors.CoveError as exc:  # e.g. the function was deleted
            log.warning("the gateway could not invoke %s: %s", name, exc.message)
            return _message(*FAILED)


class _Refused(Exception):
    """A request the gateway answers itself before routing (args: status, message)."""


def _ignore(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def _read(receive: Receive) -> bytes:
    pieces, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise _Refused(*TOO_LARGE)
        pieces.append(chunk)
        if not message.get("more_body"):
            return b"".join(pieces)


def _allowed_origin(cors: dict[str, Any], origin: str | None) -> str | None:
    origins = cors.get("AllowOrigins") or []
    if origin is None:
        return None
    if "*" in origins:  # never echoed with credentials: CreateApi refuses that pair
        return "*"
    return origin if origin in origins else None


def _credentials_allowed(cors: dict[str, Any]) -> bool:
    return bool(cors.get("AllowCredentials")) and "*" not in (cors.get("AllowOrigins") or [])


def _confine(response: ProxyResponse, root: str) -> None:
    """What a function answers is content its code controls: its pages run sandboxed (an
    opaque origin).  Cookies ignore ports, so a cookie set here would reach the console's
    origin too: the console's own are dropped, the others scoped to the API's path (``Path=/``
    on an API's host is ``/gw/<apiId>`` here)."""
    cookies = [(k, _confined_cookie(v, root) if k == "set-cookie" else v)
               for k, v in response.headers]
    response.headers = [(k, v) for k, v in cookies if v is not None]
    response.headers.append(("content-security-policy", SANDBOX_CSP))


def _confined_cookie(set_cookie: str, root: str) -> str | None:
    parts = set_cookie.split(";")
    if parts[0].partition("=")[0].strip() == CONSOLE_COOKIE:
        return None
    for index, attribute in enumerate(parts[1:], 1):
        key, _, value = attribute.partition("=")
        path = value.strip()
        if key.strip().lower() != "path":
            continue
        if (path + "/").startswith(CONSOLE_PATH + "/"):
            return None
        parts[index] = f" Path={root}" + ("" if path in ("", "/") else
                                          path if path.startswith("/") else f"/{path}")
    return ";".join(parts)


def _api_root(scope: Scope) -> str:
    api_id = scope["path"][len(PREFIX) + 1:].split("/", 1)[0]
    return f"{PREFIX}/{quote(api_id, safe='')}"


def _preflight(cors: dict[str, Any], request: GatewayRequest) -> ProxyResponse:
    response = ProxyResponse(204, [], b"")
    origin = _allowed_origin(cors, request.header("origin"))
    method = request.header("access-control-request-method") or ""
    methods = [m.upper() for m in cors.get("AllowMethods") or []]
    if origin is None or not ("*" in methods or method.upper() in methods):
        return response
    response.headers += [("access-control-allow-origin", origin),
                         ("access-control-allow-methods", ",".join(methods) or method)]
    allowed_headers = cors.get("AllowHeaders") or []
    if allowed_headers:
        asked = request.header("access-control-request-headers") or ""
        response.headers.append(("access-control-allow-headers", asked if "*" in
                                 allowed_headers and asked else ",".join(allowed_headers)))
    if cors.get("MaxAge") is not None:
        response.headers.append(("access-control-max-age", str(cors["MaxAge"])))
    if _credentials_allowed(cors):
        response.headers.append(("access-control-allow-credentials", "true"))
    return response


def _add_cors(response: ProxyResponse, view: StageView, request: GatewayRequest) -> None:
    """CORS configured on the API overrides whatever the function said about CORS."""
    cors = view.api.get("CorsConfiguration")
    if not cors or response.status == 204 and request.method == "OPTIONS":
        return
    origin = _allowed_origin(cors, request.header("origin"))
    response.headers = [(k, v) for k, v in response.headers
                        if not k.startswith("access-control-")]
    if origin is None:
        return
    response.headers.append(("access-control-allow-origin", origin))
    if cors.get("ExposeHeaders"):
        response.headers.append(("access-control-expose-headers",
                                 ",".join(cors["ExposeHeaders"])))
    if _credentials_allowed(cors):
        response.headers.append(("access-control-allow-credentials", "true"))
    response.headers.append(("vary", "origin"))


async def _send(send: Send, response: ProxyResponse, request_id: str) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers
               if k not in ("content-length", "transfer-encoding", "connection")]
    headers += [(b"content-length", str(len(response.body)).encode()),
                (b"apigw-requestid", request_id.encode())]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})

"""The Lambda proxy event an HTTP API sends (payload formats 1.0 and 2.0), and how the
function's answer becomes the HTTP response."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
              "application/x-www-form-urlencoded", "application/graphql")


@dataclass
class GatewayRequest:
    """One public request, as the gateway saw it."""

    method: str
    raw_path: str  # as sent, with the stage prefix (rawPath / path)
    route_path: str  # without the stage
    query: str
    headers: list[tuple[str, str]]  # lower-case names, in order
    body: bytes
    source_ip: str
    api_id: str
    stage: str
    account: str
    request_id: str
    started: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        return ",".join(values) if values else None


def _body(request: GatewayRequest) -> tuple[str | None, bool]:
    if not request.body:
        return None, False
    kind = (request.header("content-type") or "").lower()
    if kind.startswith(TEXT_TYPES) or kind.endswith(("+json", "+xml")) or not kind:
        try:
            return request.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode(), True


def _context(request: GatewayRequest, route_key: str) -> dict[str, Any]:
    host = request.header("host") or "localhost"
    return {"accountId": request.account, "apiId": request.api_id, "domainName": host,
            "domainPrefix": host.split(".")[0], "requestId": request.request_id,
            "routeKey": route_key, "stage": request.stage}


def event_v2(request: GatewayRequest, route_key: str, params: dict[str, str],
             stage_variables: dict[str, str]) -> dict[str, Any]:
    body, encoded = _body(request)
    headers: dict[str, str] = {}
    for name, value in request.headers:
        if name != "cookie":
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    context = _context(request, route_key)
    context.update(http={"method": request.method, "path": request.raw_path,
                         "protocol": "HTTP/1.1", "sourceIp": request.source_ip,
                         "userAgent": headers.get("user-agent", "")},
                   time=time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(request.started)),
                   timeEpoch=int(request.started * 1000))
    event: dict[str, Any] = {"version": "2.0", "routeKey": route_key,
                             "rawPath": request.raw_path, "rawQueryString": request.query,
                             "headers": headers, "requestContext": context,
                             "isBase64Encoded": encoded}
    cookies = [c.strip() for v in [request.header("cookie")] if v for c in v.split(";")]
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = params
    if stage_variables:
        event["stageVariables"] = stage_variables
    if body is not None:
        event["body"] = body
    return event


def event_v1(request: GatewayRequest, route_key: str, resource: str, params: dict[str, str],
             stage_variables: dict[str, str]) -> dict[str, Any]:
    body, encoded = _body(request)
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.query, keep_blank_values=True):
        multi_query.setdefault(name, []).append(value)
    context = _context(request, route_key)
    context.update(extendedRequestId=request.request_id, httpMethod=request.method,
                   identity={"sourceIp": request.source_ip,
                             "userAgent": request.header("user-agent") or ""},
                   path=request.raw_path, protocol="HTTP/1.1",
                   requestTime=time.strftime("%d/%b/%Y:%H:%M:%S +0000",
                                             time.gmtime(request.started)),
                   requestTimeEpoch=int(request.started * 1000), resourceId=route_key,
                   resourcePath=resource)
    return {"version": "1.0", "resource": resource, "path": request.raw_path,
            "httpMethod": request.method,
            "headers": {k: v[-1] for k, v in multi_headers.items()},
            "multiValueHeaders": multi_headers,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "requestContext": context, "pathParameters": params or None,
            "stageVariables": stage_variables or None, "body": body,
            "isBase64Encoded": encoded}


class MalformedResponse(Exception):
    """The function's answer is not a proxy response the payload format accepts."""


@dataclass
class ProxyResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def response_from(payload: bytes, version: str) -> ProxyResponse:
    """Map a function's answer to the HTTP response (MalformedResponse if it cannot be)."""
    try:
        result = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep to parse
        raise MalformedResponse("the function's answer is not JSON") from exc
    if not (isinstance(result, dict) and "statusCode" in result):
        if version == "1.0":
            raise MalformedResponse("payload format 1.0 needs a statusCode")
        # 2.0: an answer without statusCode is the body of a 200 JSON response.
        return ProxyResponse(200, [("content-type", "application/json")], payload)
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError) as exc:
        raise MalformedResponse("statusCode is not an integer") from exc
    headers = [(str(k).lower(), str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(str(name).lower(), str(v)) for v in values]
    headers += [("set-cookie", str(c)) for c in result.get("cookies") or []]
    body = result.get("body")
    if body is None:
        raw = b""
    elif not isinstance(body, str):
        raise MalformedResponse("body must be a string")
    elif result.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise MalformedResponse("isBase64Encoded body is not base64") from exc
    else:
        raw = body.encode()
    if not 100 <= status <= 599:
        raise MalformedResponse("statusCode is not an HTTP status")
    return ProxyResponse(status, headers, raw)

"""rest-json services (Lambda, API Gateway v2) driven by botocore's service model.

A rest-json operation spreads its input over the URI, the query string, headers and a JSON (or
raw) body, and its output over the status code, headers and the body; JSON members go by their
``locationName`` (API Gateway v2 writes ``apiId``, Lambda ``FunctionName``).  ``RestJsonService``
reads all of that from the model, so a component supplies handlers that take and return plain
dicts keyed by member names, exactly as boto3 shows them to its users.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

import botocore.session
from botocore.model import OperationModel, Shape, StructureShape
from starlette.requests import Request
from starlette.responses import Response

from cove import errors
from cove.wire._service import MAX_JSON_BODY, Call, Handler, _invoke, json_object
from cove.wire._shapes import ShapeValidator


class _Route:
    def __init__(self, model: OperationModel) -> None:
        self.model = model
        self.method = model.http["method"]
        template = model.http["requestUri"].split("?", 1)[0]
        pattern = re.sub(r"\{(\w+)(\+?)\}",
                         lambda m: f"(?P<{m[1]}>{'.+' if m[2] else '[^/]+'})", template)
        self.regex = re.compile(f"^{pattern}/?$")


class RestJsonService:
    """A rest-json API of one signing name; ``prefixes`` are the paths it owns."""

    protocol = "rest-json"

    def __init__(self, service: str, prefixes: tuple[str, ...], operations: dict[str, Handler],
                 invalid: type[errors.CoveError]) -> None:
        model = botocore.session.get_session().get_service_model(service)
        self.signing_name = model.signing_name
        self.prefixes = prefixes
        self.operations = operations
        self.invalid = invalid
        self.validator = ShapeValidator(service)
        self.routes = [_Route(model.operation_model(name)) for name in operations]

    def matches(self, request: Request) -> bool:
        return request.url.path.startswith(self.prefixes)

    async def __call__(self, call: Call) -> Response:
        route, path_params = self._route(call.request)
        params = await self._params(route, path_params, call)
        result = await _invoke(self.operations[route.model.name], params, call)
        return _respond(route.model, result or {}, call.request_id)

    def _route(self, request: Request) -> tuple[_Route, dict[str, str]]:
        path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        allowed = False
        for route in self.routes:
            found = route.regex.match(path)
            if found:
                allowed = True
                if route.method == request.method:
                    return route, {k: unquote(v) for k, v in found.groupdict().items()}
        if allowed:
            raise errors.UnknownOperation(f"{request.method} is not supported on {path}.")
        raise errors.UnknownOperation(f"cove does not serve {request.method} {path}.")

    async def _params(self, route: _Route, path_params: dict[str, str],
                      call: Call) -> dict[str, Any]:
        shape = route.model.input_shape
        raw = await call.body.read(MAX_JSON_BODY)
        if shape is None:
            return {}
        params: dict[str, Any] = {}
        query = parse_qsl(call.request.scope["query_string"].decode("latin-1"),
                          keep_blank_values=True)
        payload = shape.serialization.get("payload")
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "uri" and wire in path_params:
                params[name] = _scalar(member, path_params[wire], self.invalid)
            elif location == "querystring":
                values = [v for k, v in query if k == wire]
                if values:
                    params[name] = (values if member.type_name == "list"
                                    else _scalar(member, values[0], self.invalid))
            elif location == "header" and wire.lower() in call.request.headers:
                params[name] = _scalar(member, call.request.headers[wire.lower()], self.invalid)
        if payload and shape.members[payload].type_name == "blob":
            checked = dict(params)
            params[payload] = raw
        else:
            body = json_object(raw, self.invalid)
            if payload:
                params[payload] = _from_wire(shape.members[payload], body)
            else:
                params.update(_from_wire(shape, body))
            params = checked = self.validator.without_nulls(route.model.name, params)
        try:
            self.validator.validate(route.model.name, checked)
        except errors.ValidationError as exc:
            raise self.invalid(exc.message) from exc
        return params


def _scalar(shape: Shape, text: str, invalid: type[errors.CoveError]) -> Any:
    try:
        if shape.type_name in ("integer", "long"):
            return int(text)
        if shape.type_name in ("float", "double"):
            return float(text)
    except ValueError as exc:
        raise invalid(f"{text!r} is not a number.") from exc
    if shape.type_name == "boolean":
        return text.lower() == "true"
    return text


def _from_wire(shape: Shape, value: Any) -> Any:
    """JSON as sent (locationNames) -> params keyed by member names."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        by_wire = {m.serialization.get("name", n): (n, m) for n, m in shape.members.items()}
        out = {}
        for key, item in value.items():
            name, member = by_wire.get(key, (key, None))
            out[name] = _from_wire(member, item) if member is not None else item
        return out
    if shape.type_name == "list" and isinstance(value, list):
        return [_from_wire(shape.member, v) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: _from_wire(shape.value, v) for k, v in value.items()}
    return value


def _to_wire(shape: Shape, value: Any) -> Any:
    """A handler's result (member names) -> JSON as clients parse it."""
    if value is None:
        return None
    if isinstance(shape, StructureShape):
        return {m.serialization.get("name", n): _to_wire(m, value[n])
                for n, m in shape.members.items() if value.get(n) is not None}
    if shape.type_name == "list":
        return [_to_wire(shape.member, v) for v in value]
    if shape.type_name == "map":
        return {k: _to_wire(shape.value, v) for k, v in value.items()}
    if shape.type_name == "timestamp":
        stamp = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
        if shape.serialization.get("timestampFormat") == "iso8601":
            return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return stamp.timestamp()
    if shape.type_name == "blob" and isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _respond(model: OperationModel, result: dict[str, Any], request_id: str) -> Response:
    status = int(model.http.get("responseCode", 200))
    headers = {"x-amzn-RequestId": request_id}
    shape = model.output_shape
    if shape is None:
        return Response(b"", status, headers=headers)
    payload = shape.serialization.get("payload")
    body: dict[str, Any] = {}
    for name, member in shape.members.items():
        value = result.get(name)
        location = member.serialization.get("location")
        if value is None or name == payload:
            continue
        if location == "statusCode":
            status = int(value)
        elif location == "header":
            headers[member.serialization["name"]] = str(value)
        elif location is None:
            body[name] = value
    if status in (204, 304):  # no body, whatever the model says
        return Response(b"", status, headers=headers)
    if payload is not None:
        member = shape.members[payload]
        value = result.get(payload)
        if member.type_name == "blob":
            return Response(value or b"", status, headers=headers,
                            media_type=result.get("ContentType") or "application/json")
        content = json.dumps(_to_wire(member, value)) if value is not None else b""
    else:
        content = json.dumps(_to_wire(shape, body))
    return Response(content, status, headers=headers, media_type="application/json")

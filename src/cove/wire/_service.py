"""The extension point: a Service answers the requests of one signing name and protocol.

Components (sagemaker, runtime, logs, lambda, ...) plug in by handing a Service to the edge.
``JsonService`` and ``QueryService`` do the protocol work for JSON 1.1 and query APIs, so a
component supplies only ``operation -> handler`` functions.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cove import errors
from cove.wire._body import Body
from cove.wire._render import JSON_CONTENT_TYPE

if TYPE_CHECKING:  # a value type only; identity (a store) sits above the wire
    from cove.identity import Principal

MAX_JSON_BODY = 16 * 1024 * 1024


@dataclass
class Call:
    """One authenticated request on its way to a handler."""

    request: Request
    principal: Principal
    region: str
    request_id: str
    body: Body


class Service(Protocol):
    #: The SigV4 credential-scope service name clients sign with (``s3``, ``sagemaker``, ...).
    signing_name: str
    #: ``rest-xml``, ``json``, ``rest-json`` or ``query``: how errors are rendered.
    protocol: str

    def matches(self, request: Request) -> bool:
        """Whether this service answers ``request`` (given its signing name matched)."""
        ...

    async def __call__(self, call: Call) -> Response: ...


Handler = Callable[[dict[str, Any], Call], Any]


class Validator(Protocol):
    def validate(self, operation: str, params: dict[str, Any]) -> None:
        """Raise ValidationError when ``params`` break the operation's input shape."""
        ...

    def without_nulls(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` with null structure members left out: on the wire, null is absent."""
        ...


def json_object(raw: bytes, invalid: type[errors.CoveError]) -> dict[str, Any]:
    """A request body as a JSON object ({} when empty); anything else raises ``invalid``."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise invalid(f"The request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # the C parser recurses per nesting level
        raise invalid("The request body is nested too deeply to parse.") from exc
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


class JsonService:
    """A JSON 1.1 API: ``POST /`` with ``X-Amz-Target: <prefix>.<Operation>``.

    Handlers take ``(params, call)`` and return the response dict; plain functions run in a
    worker thread, coroutines on the event loop.
    """

    protocol = "json"

    def __init__(self, signing_name: str, target_prefix: str,
                 operations: dict[str, Handler], validator: Validator | None = None) -> None:
        self.signing_name = signing_name
        self.target_prefix = target_prefix + "."
        self.operations = operations
        self.validator = validator

    def matches(self, request: Request) -> bool:
        return request.headers.get("x-amz-target", "").startswith(self.target_prefix)

    async def __call__(self, call: Call) -> Response:
        target = call.request.headers["x-amz-target"]
        handler = self.operations.get(target[len(self.target_prefix):])
        if handler is None:
            raise errors.UnknownOperation(f"Operation {target} is not supported by cove.")
        raw = await call.body.read(MAX_JSON_BODY)
        params = json_object(raw, errors.SerializationError)
        if self.validator is None:  # null is absent on the wire (at least at the top)
            params = {name: value for name, value in params.items() if value is not None}
        else:
            params = self.validator.without_nulls(target[len(self.target_prefix):], params)
            self.validator.validate(target[len(self.target_prefix):], params)
        result = await _invoke(handler, params, call)
        return Response(json.dumps(result or {}, default=_json_default), 200,
                        media_type=JSON_CONTENT_TYPE,
                        headers={"x-amzn-RequestId": call.request_id})


class QueryService:
    """A query API (STS): form-encoded ``Action=...``; handlers return the result XML."""

    protocol = "query"

    def __init__(self, signing_name: str, namespace: str,
                 operations: dict[str, Handler]) -> None:
        self.signing_name = signing_name
        self.namespace = namespace
        self.operations = operations

    def matches(self, request: Request) -> bool:
        return True

    async def __call__(self, call: Call) -> Response:
        raw = await call.body.read(MAX_JSON_BODY)
        params = dict(parse_qsl(raw.decode("utf-8", "replace")))
        params.update(call.request.query_params)
        action = params.get("Action", "")
        handler = self.operations.get(action)
        if handler is None:
            raise errors.UnknownOperation(f"Action {action!r} is not supported by cove.")
        result = await _invoke(handler, params, call)
        body = (f'<{action}Response xmlns="{self.namespace}"><{action}Result>{result}'
                f"</{action}Result><ResponseMetadata><RequestId>{call.request_id}</RequestId>"
                f"</ResponseMetadata></{action}Response>")
        return Response(body, 200, media_type="text/xml")


async def _invoke(handler: Handler, params: dict[str, Any], call: Call) -> Any:
    if inspect.iscoroutinefunction(handler):
        return await handler(params, call)
    return await run_in_threadpool(handler, params, call)


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.timestamp()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


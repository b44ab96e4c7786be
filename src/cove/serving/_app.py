"""The worker's routes, independent of the HTTP transport (:mod:`cove.serving._http`).

``GET /ping`` -> 200, empty; ``POST /invocations`` -> the runtime's prediction (a failure: its
status and a one-line text body, and one line on stderr); ``GET /execution-parameters`` -> what
batch transform may ask (one request at a time).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import dataclass

from cove.serving._errors import InferenceError, message_of, status_of
from cove.serving._runtime import Invocation, Runtime

CUSTOM_ATTRIBUTES = b"x-amzn-sagemaker-custom-attributes"
_EXECUTION_PARAMETERS = json.dumps(
    {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}).encode()
_TEXT = b"text/plain; charset=utf-8"
_CONTROL = {code: " " for code in (*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F)}

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Headers
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Request:
    """What the routes read from a request: the three headers of the contract, raw."""

    method: bytes
    path: bytes
    body: bytes = b""
    content_type: bytes | None = None
    accept: bytes | None = None
    custom_attributes: bytes | None = None


class WorkerApp:
    """The SageMaker inference contract for one loaded :class:`Runtime`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def respond(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == b"/invocations" and method == b"POST":
            return self.invocations(request)
        if path == b"/ping" and method in (b"GET", b"HEAD"):
            return Response(200, [])
        if path == b"/execution-parameters" and method == b"GET":
            return Response(200, [(b"content-type", b"application/json")], _EXECUTION_PARAMETERS)
        return Response(404, [(b"content-type", _TEXT)],
                        b"No route %s %s\n" % (method, path[:200]))

    def invocations(self, request: Request) -> Response:
        invocation = Invocation(request.body, _text(request.content_type), _text(request.accept),
                                _text(request.custom_attributes))
        try:
            prediction = self.runtime.invoke(invocation)
        except (Exception, SystemExit) as exc:  # the handler's failure becomes the response
            return _failure(exc)
        headers = [(b"content-type", _header_value(prediction.content_type))]
        attributes = prediction.custom_attributes
        if attributes is not None:
            headers.append((CUSTOM_ATTRIBUTES, _header_value(attributes)))
        elif request.custom_attributes is not None:
            headers.append((CUSTOM_ATTRIBUTES, request.custom_attributes))
        return Response(prediction.status, headers, prediction.body)


def _failure(exc: BaseException) -> Response:
    status, message = status_of(exc), message_of(exc)
    where = "" if isinstance(exc, InferenceError) else _where(exc)
    print(f"cove-worker: POST /invocations -> {status}: {message}{where}",
          file=sys.stderr, flush=True)
    return Response(status, [(b"content-type", _TEXT)], (message + "\n").encode())


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _header_value(text: str) -> bytes:
    """Handlers choose these: no control characters (CR/LF would split the response; the edge's
    HTTP server refuses the others), latin-1 only."""
    return text.translate(_CONTROL).encode("latin-1", "replace")


def _where(exc: BaseException) -> str:
    """`` (inference.py:12 in predict_fn)``: the innermost frame, to find the failing line."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    frame = frames[-1]
    return f" ({os.path.basename(frame.filename)}:{frame.lineno} in {frame.name})"

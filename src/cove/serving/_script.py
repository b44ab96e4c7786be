"""Script mode: the user's ``model_fn``/``input_fn``/``predict_fn``/``output_fn`` (or
``transform_fn``), run with the SageMaker inference toolkit's semantics.

- The entry point is imported from the code directory (which is put on ``sys.path``); a handler
  it does not define falls back to the framework's default (:class:`Defaults`).  Defining
  ``transform_fn`` together with any of the other three is an error, as in the toolkit.
- Each handler may take one trailing ``context`` argument, detected from its signature: a
  :class:`Context` (the TorchServe/MMS context API: request headers, response headers).
- A ``text/csv`` or ``application/json`` body reaches ``input_fn``/``transform_fn`` as ``str``,
  any other as ``bytes``; the content type is the header as sent (``application/json`` if
  there is none); Accept none or ``*/*`` is ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``, else
  ``application/json``.
- ``output_fn``/``transform_fn`` return ``body`` or ``(body, content_type)``; body is ``bytes``
  or ``str``; without a content type the response's is the Accept.  A status a handler set
  with ``context.set_response_status`` is the response's, as in TorchServe.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from cove.serving._errors import BadRequest, InferenceError, ModelLoadError
from cove.serving._runtime import Invocation, Prediction

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
_TEXT_TYPES = ("application/json", "text/csv")  # exactly: the toolkit compares the raw header
_HANDLERS = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")


@dataclass(frozen=True)
class Defaults:
    """A framework's handlers for what the entry point leaves out."""

    framework: str
    model_fn: Callable[[str], Any]
    input_fn: Callable[[Any, str], Any]
    predict_fn: Callable[[Any, Any], Any]
    output_fn: Callable[[Any, str], Any]


class Context:
    """What a handler's trailing ``context`` argument sees: TorchServe's Context API, one request.

    ``system_properties`` (``model_dir``, ``gpu_id``, ``batch_size``); request headers
    (Content-Type, Accept, X-Amzn-SageMaker-Custom-Attributes) by
    :meth:`get_request_header`; response headers set with :meth:`set_response_header` (set
    X-Amzn-SageMaker-Custom-Attributes there to answer with your own custom attributes).
    """

    def __init__(self, model_dir: str, invocation: Invocation | None = None) -> None:
        self.system_properties: dict[str, Any] = {
            "model_dir": model_dir, "gpu_id": None, "batch_size": 1, "server_name": "cove"}
        self.model_name = "model"
        self.manifest: dict[str, Any] = {}
        self._request: dict[str, str] = {}
        if invocation is not None:
            for name, value in (("Content-Type", invocation.content_type),
                                ("Accept", invocation.accept),
                                (CUSTOM_ATTRIBUTES, invocation.custom_attributes)):
                if value is not None:
                    self._request[name] = value
        self._response: dict[str, str] = {}
        self.response_status: tuple[int, str] | None = None

    def get_request_header(self, idx: int, key: str) -> str | None:
        return next((v for k, v in self._request.items() if k.lower() == key.lower()), None)

    def get_all_request_header(self, idx: int) -> dict[str, str]:
        return dict(self._request)

    def get_request_id(self, idx: int = 0) -> str:
        return "0"

    def set_response_header(self, idx: int, key: str, value: str) -> None:
        self._response[key.lower()] = str(value)

    def set_response_content_type(self, idx: int, value: str) -> None:
        self._response["content-type"] = str(value)

    def get_response_headers(self, idx: int = 0) -> dict[str, str]:
        return dict(self._response)

    def get_response_content_type(self, idx: int = 0) -> str | None:
        return self._response.get("content-type")

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        self.response_status = (code, phrase)

    @property
    def response_custom_attributes(self) -> str | None:
        return self._response.get(CUSTOM_ATTRIBUTES.lower())


@dataclass(frozen=True, slots=True)
class Handler:
    """A handler and whether it takes the trailing ``context``."""

    func: Callable[..., Any]
    takes_context: bool

    def __call__(self, context: Context, *args: Any) -> Any:
        if self.takes_context:
            return self.func(*args, context)
        return self.func(*args)


class ScriptRuntime:
    """The user's handlers around a model ``model_fn`` loaded."""

    def __init__(self, handlers: dict[str, Handler], model_dir: Path,
                 environ: Mapping[str, str]) -> None:
        self.model_dir = str(model_dir)
        self.default_accept = (environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT")
                               or "application/json")
        self.handlers = handlers
        self.model = handlers["model_fn"](Context(self.model_dir), self.model_dir)

    def invoke(self, invocation: Invocation) -> Prediction:
        content_type = invocation.content_type or "application/json"
        accept = invocation.accept
        if not accept or accept == "*/*":
            accept = self.default_accept
        body: bytes | str = invocation.body
        if content_type in _TEXT_TYPES:
            body = _text(invocation.body)
        context = Context(self.model_dir, invocation)
        result = self.transform(context, body, content_type, accept)
        response_type = accept
        if isinstance(result, tuple):
            result, response_type = result[0], str(result[1])
        status = context.response_status[0] if context.response_status else 200
        if not 200 <= status <= 599:
            raise InferenceError(f"The handler set the response status {status}; a response "
                                 f"status is 200-599.")
        return Prediction(_body(result), response_type, context.response_custom_attributes,
                          status)

    def transform(self, context: Context, body: bytes | str, content_type: str, accept: str) -> Any:
        handlers = self.handlers
        if "transform_fn" in handlers:
            return handlers["transform_fn"](context, self.model, body, content_type, accept)
        data = handlers["input_fn"](context, body, content_type)
        prediction = handlers["predict_fn"](context, data, self.model)
        return handlers["output_fn"](context, prediction, accept)


def load(model_dir: Path, code_dir: Path | None, entry_point: str | None, defaults: Defaults,
         environ: Mapping[str, str]) -> ScriptRuntime:
    """Import the entry point (if any), bind its handlers, and run ``model_fn``."""
    module = import_entry_point(code_dir, entry_point) if entry_point else None
    handlers = bind_handlers(module, defaults)
    try:
        return ScriptRuntime(handlers, model_dir, environ)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"model_fn raised {_describe(exc)} (traceback in the endpoint's "
                             f"log). Fix model_fn in {entry_point or 'the inference code'} or the "
                             f"model artifact it reads from {model_dir}.") from exc


def import_entry_point(code_dir: Path | None, entry_point: str) -> ModuleType:
    """The entry point imported as a top-level module named after its file."""
    if code_dir is None:
        raise ModelLoadError(f"The entry point {entry_point} was named but no code directory "
                             f"holds it: repack the model with its code (source_dir).")
    path = code_dir / entry_point
    if not path.is_file():
        present = sorted(p.name for p in code_dir.iterdir()) if code_dir.is_dir() else []
        raise ModelLoadError(
            f"The entry point {entry_point} is not in the inference code (found: "
            f"{', '.join(present) or 'nothing'}). Check entry_point / SAGEMAKER_PROGRAM and the "
            f"source_dir the model was created with.")
    sys.path.insert(0, str(code_dir))
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"The entry point {entry_point} cannot be imported as Python code.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise ModelLoadError(f"The entry point {entry_point} has a syntax error at line "
                             f"{exc.lineno}: {exc.msg}. Fix it and redeploy.") from exc
    except Exception as exc:
        raise ModelLoadError(f"Importing the entry point {entry_point} raised {_describe(exc)} "
                             f"(traceback in the endpoint's log).") from exc
    return module


def bind_handlers(module: ModuleType | None, defaults: Defaults) -> dict[str, Handler]:
    """The five handlers, the module's where it has them, checked against the toolkit's rules."""
    found = {name: getattr(module, name) for name in _HANDLERS
             if module is not None and callable(getattr(module, name, None))}
    if "transform_fn" in found and found.keys() & {"input_fn", "predict_fn", "output_fn"}:
        raise ModelLoadError("Cannot use transform_fn implementation in conjunction with "
                             "input_fn, predict_fn, and/or output_fn implementation: define "
                             "either transform_fn or the other three.")
    arities = {"model_fn": 1, "input_fn": 2, "predict_fn": 2, "output_fn": 2, "transform_fn": 4}
    handlers = {name: _bind(name, func, arities[name]) for name, func in found.items()}
    if "transform_fn" not in handlers:
        for name in ("input_fn", "predict_fn", "output_fn"):
            handlers.setdefault(name, Handler(getattr(defaults, name), False))
    handlers.setdefault("model_fn", Handler(defaults.model_fn, False))
    return handlers


def _bind(name: str, func: Callable[..., Any], arity: int) -> Handler:
    try:
        count = len(inspect.signature(func).parameters)
    except (TypeError, ValueError):  # a builtin without a signature: call it plainly
        return Handler(func, False)
    if count in (arity, arity + 1):
        return Handler(func, count == arity + 1)
    raise ModelLoadError(f"{name} takes {count} arguments; the toolkit calls it with {arity} "
                         f"(or {arity + 1}, the last being context).")


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The request body is not UTF-8 text (byte {exc.start}).") from exc


def _body(result: Any) -> bytes:
    if isinstance(result, bytes):
        return result
    if isinstance(result, str):
        return result.encode("utf-8")
    if isinstance(result, bytearray | memoryview):
        return bytes(result)
    raise InferenceError(f"The handler returned {type(result).__name__}; output_fn / "
                         f"transform_fn must return bytes or str, or (body, content_type).")


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

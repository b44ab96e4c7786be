"""What can go wrong inside a model-server worker, and the HTTP status each failure answers with.

These errors live in the worker process and never reach a SageMaker client as they are: the
worker answers ``/invocations`` with their status and a short text body, and cove's edge turns
any non-200 into the runtime API's ``ModelError`` (424, with ``OriginalStatusCode``).  They are
therefore not :class:`cove.errors.CoveError`\\ s, which carry AWS error codes.

::

    InferenceError                 status_code 500: a handler failed
    ├── BadRequest                 400: the body cannot be read as its content type says
    ├── UnsupportedContentType     415: no decoder for the request's Content-Type
    └── UnsupportedAccept          406: no encoder for the request's Accept
    ModelLoadError                 the worker exits 1; the message goes to the failure file

Any other exception a user's handler raises answers 500, or the ``status_code`` it carries (as
the inference toolkit's ``GenericInferenceToolkitError`` does).
"""

from __future__ import annotations

from typing import ClassVar


class InferenceError(Exception):
    """A failed invocation: ``status_code`` and a message for the response body."""

    status_code: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(InferenceError):
    status_code = 400


class UnsupportedContentType(InferenceError):
    status_code = 415


class UnsupportedAccept(InferenceError):
    status_code = 406


class ModelLoadError(Exception):
    """The model could not be loaded; ``reason`` is the failure file's one paragraph."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def status_of(exc: BaseException) -> int:
    """The HTTP status an exception answers with: its ``status_code`` if it is a 4xx/5xx."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status <= 599:
        return status
    return 500


def message_of(exc: BaseException) -> str:
    """One line for a response body: ours as they are, anything else as ``Type: message``.

    The inference toolkit's errors keep their text in ``message`` (their ``str`` is a tuple).
    """
    if isinstance(exc, InferenceError):
        return " ".join(exc.message.split())
    text = getattr(exc, "message", None)
    if not isinstance(text, str):
        text = str(exc)
    text = " ".join(text.split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

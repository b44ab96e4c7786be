"""The one interface between the worker's HTTP side and a loaded model: :class:`Runtime`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Invocation:
    """One ``POST /invocations``: the raw body and the three headers the contract passes."""

    body: bytes
    content_type: str | None = None
    accept: str | None = None
    custom_attributes: str | None = None


@dataclass(frozen=True, slots=True)
class Prediction:
    """The response: body, its Content-Type, and custom attributes (None: echo the request's)."""

    body: bytes
    content_type: str
    custom_attributes: str | None = None
    status: int = 200


class Runtime(Protocol):
    """A loaded model that answers invocations.

    :meth:`invoke` runs on one thread at a time (the worker serialises requests, as a
    SageMaker container's worker process does) and raises
    :class:`~cove.serving._errors.InferenceError` for the request's faults (400/406/415); any
    other exception is the model's failure, answered with 500 or the ``status_code`` the
    exception carries.  Loading is the runtime module's ``load``, which raises
    :class:`~cove.serving._errors.ModelLoadError` with an actionable reason.
    """

    def invoke(self, invocation: Invocation) -> Prediction: ...

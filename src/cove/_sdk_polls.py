"""The SageMaker SDK's waits against cove: a look each second instead of every 5 to 30.

The SDK sleeps a whole poll interval before each look, the first one included: 30 s for an
endpoint, 10 s for a job's log, 5 s for a tuning or transform job.  Those intervals are tuned for
AWS, where a job or an endpoint takes minutes to start; cove starts one in a second, so with them
a two-second training job is waited on for ten and every deploy for thirty.  Each wait still
waits for the same Describe answer; only how often it asks changes (a poll that is passed
explicitly is kept).

Applied in place to the SDK inside cove's notebook kernels (which reach only cove), and as a
subclass to the sessions ``cove.sagemaker_session()`` returns (other sessions in the same
process keep the SDK's intervals).  Imports nothing heavy: the kernel imports it at start.
"""

from __future__ import annotations

from types import FunctionType, ModuleType
from typing import Any

POLL_SECONDS = 1
#: The SDK modules whose waits a cove kernel shortens as they are imported (v2, v3).
SESSION_MODULES = ("sagemaker.session", "sagemaker.core.helper.session_helper")


def shorten_module(module: ModuleType) -> None:
    """Every function and method defined in ``module`` whose ``poll`` defaults to more than
    POLL_SECONDS now defaults to it."""
    for value in list(vars(module).values()):
        if getattr(value, "__module__", None) != module.__name__:
            continue
        if isinstance(value, FunctionType):
            _apply(value, value)
        elif isinstance(value, type):
            for member in _functions(value):
                _apply(member, member)


def quick_session_class(base: type) -> type:
    """A subclass of the SDK's ``Session`` whose waits poll each POLL_SECONDS by default."""
    overrides: dict[str, Any] = {}
    for klass in reversed(base.__mro__):
        for name, member in vars(klass).items():
            if isinstance(member, FunctionType) and _shorter(member) is not None:
                copy = FunctionType(member.__code__, member.__globals__, member.__name__,
                                    member.__defaults__, member.__closure__)
                copy.__dict__.update(member.__dict__)
                copy.__doc__, copy.__qualname__ = member.__doc__, member.__qualname__
                copy.__kwdefaults__ = member.__kwdefaults__
                overrides[name] = _apply(copy, member)
            elif name in overrides:
                del overrides[name]  # a subclass redefined it without a long poll
    return type(base.__name__, (base,), {"__module__": base.__module__, **overrides})


def _functions(klass: type) -> list[FunctionType]:
    found = []
    for member in vars(klass).values():
        function = getattr(member, "__func__", member)  # static and class methods too
        if isinstance(function, FunctionType):
            found.append(function)
    return found


def _apply(target: FunctionType, source: FunctionType) -> FunctionType:
    shorter = _shorter(source)
    if shorter is not None:
        target.__defaults__, target.__kwdefaults__ = shorter
    return target


def _shorter(function: FunctionType) -> tuple[tuple[Any, ...] | None,
                                              dict[str, Any] | None] | None:
    """The function's defaults with a long ``poll`` shortened; None if it has none."""
    code = function.__code__
    defaults = list(function.__defaults__ or ())
    kwdefaults = dict(function.__kwdefaults__ or {})
    positional = code.co_varnames[:code.co_argcount]
    with_default = positional[len(positional) - len(defaults):]
    changed = False
    if "poll" in with_default and _long(defaults[with_default.index("poll")]):
        defaults[with_default.index("poll")] = POLL_SECONDS
        changed = True
    if _long(kwdefaults.get("poll")):
        kwdefaults["poll"] = POLL_SECONDS
        changed = True
    if not changed:
        return None
    return (tuple(defaults) or None), (kwdefaults or None)


def _long(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and value > POLL_SECONDS)

"""The SDK's waits against cove look each second: which defaults change, which stay."""

from __future__ import annotations

import inspect
import types
from typing import Any

from cove._sdk_polls import quick_session_class, shorten_module


def _poll(function: Any) -> Any:
    return inspect.signature(function).parameters["poll"].default


def test_long_poll_defaults_shorten_and_the_rest_stay() -> None:
    module = types.ModuleType("fake_sdk")
    exec(  # noqa: S102 - a module of the SDK's shapes
        "def wait(job, poll=5):\n    return poll\n"
        "def quick(job, poll=0.5):\n    return poll\n"
        "def flag(job, poll=True):\n    return poll\n"
        "def keyword(job, *, poll=30, other=2):\n    return poll, other\n"
        "class Session:\n"
        "    def wait_for_endpoint(self, name, poll=30, live=False):\n        return poll, live\n"
        "    @staticmethod\n"
        "    def helper(poll=10):\n        return poll\n", module.__dict__)
    module.__dict__["imported"] = inspect.signature  # not the module's own: untouched
    shorten_module(module)
    assert module.wait("j") == 1 and module.wait("j", 7) == 7  # an explicit poll is kept
    assert module.quick("j") == 0.5 and module.flag("j") is True
    assert module.keyword("j") == (1, 2)
    assert module.Session().wait_for_endpoint("e") == (1, False)
    assert module.Session.helper() == 1


def test_the_session_subclass_leaves_the_sdks_class_alone() -> None:
    import sagemaker

    quick = quick_session_class(sagemaker.Session)
    assert issubclass(quick, sagemaker.Session) and quick.__name__ == "Session"
    for name in ("wait_for_endpoint", "logs_for_job", "wait_for_job", "wait_for_tuning_job",
                 "wait_for_transform_job", "logs_for_transform_job", "wait_for_processing_job"):
        assert _poll(getattr(quick, name)) == 1, name
        assert _poll(getattr(sagemaker.Session, name)) > 1, name
    assert quick.wait_for_endpoint.__doc__ == sagemaker.Session.wait_for_endpoint.__doc__

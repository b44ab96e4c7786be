"""Choosing and loading a runtime: the one place that knows which module serves which."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cove.serving._errors import ModelLoadError
from cove.serving._runtime import Runtime

if TYPE_CHECKING:
    from cove.serving._script import Defaults

RUNTIMES = ("xgboost", "linear-learner", "sklearn", "pytorch")


def load_runtime(runtime: str, model_dir: Path, code_dir: Path | None = None,
                 entry_point: str | None = None,
                 environ: Mapping[str, str] | None = None) -> Runtime:
    """Load the model for ``runtime``; raises :class:`ModelLoadError` with the reason."""
    environ = os.environ if environ is None else environ
    if not model_dir.is_dir():
        raise ModelLoadError(f"The model directory {model_dir} does not exist.")
    if runtime == "xgboost":
        from cove.serving import _xgboost
        return _xgboost.load(model_dir, environ)
    if runtime == "linear-learner":
        from cove.serving import _linear_learner
        return _linear_learner.load(model_dir, environ)
    if runtime in ("sklearn", "pytorch"):
        from cove.serving import _script
        defaults = _framework_defaults(runtime)
        entry_point = entry_point or environ.get("SAGEMAKER_PROGRAM") or None
        if code_dir is None and (model_dir / "code").is_dir():
            code_dir = model_dir / "code"
        return _script.load(model_dir, code_dir, entry_point, defaults, environ)
    raise ModelLoadError(f"Unknown runtime {runtime!r}; cove serves {', '.join(RUNTIMES)}.")


def _framework_defaults(runtime: str) -> Defaults:
    if runtime == "pytorch":
        from cove.serving import _pytorch
        return _pytorch.DEFAULTS
    from cove.serving import _sklearn
    return _sklearn.DEFAULTS

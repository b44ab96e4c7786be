"""Model serving: the worker process behind an endpoint's instances (and batch transform).

A worker is ``python -m cove.serving.worker`` (see :mod:`cove.serving.worker` for the command
line and :func:`worker_command` to build it): it loads one model with one runtime, then answers
SageMaker's inference contract (``GET /ping``, ``POST /invocations``) over HTTP/1.1 on a Unix
socket.  Runtimes: the built-in ``xgboost`` and ``linear-learner`` algorithms, and ``sklearn`` /
``pytorch`` script mode with the inference toolkit's handlers.

Importing this package is cheap: the runtimes import their frameworks when a worker loads.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cove.serving._errors import ModelLoadError
from cove.serving._load import RUNTIMES, load_runtime
from cove.serving._runtime import Invocation, Prediction, Runtime


def worker_command(socket: Path, model_dir: Path, runtime: str, *, code_dir: Path | None = None,
                   entry_point: str | None = None,
                   failure_file: Path | None = None) -> list[str]:
    """The argv that starts a worker with this interpreter."""
    argv = [sys.executable, "-m", "cove.serving.worker", "--socket", str(socket),
            "--model-dir", str(model_dir), "--runtime", runtime]
    if code_dir is not None:
        argv += ["--code-dir", str(code_dir)]
    if entry_point is not None:
        argv += ["--entry-point", entry_point]
    if failure_file is not None:
        argv += ["--failure-file", str(failure_file)]
    return argv


__all__ = ["RUNTIMES", "Invocation", "ModelLoadError", "Prediction", "Runtime", "load_runtime",
           "worker_command"]

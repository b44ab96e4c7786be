"""Executors run the work of jobs (``local``: threads and subprocesses here); sandboxes confine
the processes they start."""

from cove.executors._base import Executor
from cove.executors._local import LocalExecutor
from cove.executors._sandbox import (
    Bubblewrap,
    PlainProcess,
    ProcessSpec,
    Sandbox,
    choose_sandbox,
    kill,
)

__all__ = ["Bubblewrap", "Executor", "LocalExecutor", "PlainProcess", "ProcessSpec", "Sandbox",
           "choose_sandbox", "kill"]

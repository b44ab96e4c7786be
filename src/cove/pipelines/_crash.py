"""A test's way to crash cove at one exact point of a step, for real.

Some crashes cannot be timed from outside: between a step's effect (a package registered, a
function invoked) and the engine's record of it there is no request to wait for.  Started with
``COVE_CRASH_AT=pipelines.RegisterModel`` (or another step type), the server kills itself
with SIGKILL whenever it reaches that point: the same end as a kill -9 (restart it without
the variable).  Unset, as in
any real use, ``crash_point`` is a string comparison.
"""

from __future__ import annotations

import os
import signal

_POINT = os.environ.get("COVE_CRASH_AT", "")


def crash_point(name: str) -> None:
    if name == _POINT:
        os.kill(os.getpid(), signal.SIGKILL)

"""The kernels a notebook instance offers.

``python3`` runs cove's own interpreter, which has SageMaker SDK v2.  v2 and v3 cannot share an
environment, so when cove is told of one with SDK v3 (the ``sdk_v3_python`` setting,
``COVE_SDK_V3_PYTHON``) the instance also offers "Python 3 (SageMaker SDK v3)", running that
interpreter.  Both start through ``cove/_notebook_kernel.py`` and inherit JupyterLab's
environment (endpoint, the instance's keys, the SDK config file, the metadata file), so the
SDK reaches cove with no set-up in either.  Both run the launcher by its path, never as
``-m cove._notebook_kernel``: the v3 environment need not have cove installed, and ``-m`` would
import a user's ``cove.py`` from the notebook's directory instead of cove.  In the sandbox the
v3 environment is bound read-only, at its own path, for every instance: one instance's code
cannot change another's environment.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cove._notebook_kernel as launcher
from cove.executors import runtime_paths
from cove.training._contract import base_environment

V2_KERNEL = "python3"
V3_KERNEL = "sagemaker-sdk-v3"
V3_DISPLAY_NAME = "Python 3 (SageMaker SDK v3)"
#: What an interpreter must answer to run the v3 kernel: its sagemaker version and whether
#: ipykernel is there (``-I``: nothing of cove's environment leaks in).
_PROBE = ("import importlib.metadata as m, importlib.util as u\n"
          "try:\n    v = m.version('sagemaker')\nexcept m.PackageNotFoundError:\n    v = '-'\n"
          "print(v, u.find_spec('ipykernel') is not None)")


@dataclass(frozen=True)
class Kernel:
    """One kernelspec: its directory name and ``kernel.json``."""

    name: str
    spec: dict[str, Any]

    def json(self) -> bytes:
        return json.dumps(self.spec, indent=1).encode()


def _launch(python: str) -> list[str]:
    boot = f"import runpy; runpy.run_path({str(Path(launcher.__file__))!r}, run_name='__main__')"
    return [python, "-c", boot, "-f", "{connection_file}"]


def v2_kernel(python: str) -> Kernel:
    return Kernel(V2_KERNEL, {
        "argv": _launch(python),
        "display_name": "Python 3 (cove)", "language": "python",
        "metadata": {"debugger": True}})


def v3_kernel(python: str) -> Kernel:
    """JupyterLab's PATH, with the v3 environment's scripts first (``!pip`` is its pip)."""
    path = base_environment({})["PATH"]
    return Kernel(V3_KERNEL, {
        "argv": _launch(python),
        "display_name": V3_DISPLAY_NAME, "language": "python",
        "metadata": {"debugger": True},
        "env": {"PATH": os.pathsep.join([str(Path(python).parent), path])}})


def sdk_v3_problem(python: str) -> str | None:
    """Why ``python`` cannot run the v3 kernel (for the instance's log), or None."""
    if not os.path.isabs(python):
        return f"sdk_v3_python must be an absolute path, not {python!r}"
    try:
        out = subprocess.run([python, "-I", "-c", _PROBE], capture_output=True, text=True,
                             timeout=60, env={"PATH": os.environ.get("PATH", "")})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {python}: {exc}"
    if out.returncode != 0 or len(out.stdout.split()) != 2:
        return f"{python} did not answer which SageMaker SDK it has: {out.stderr[-300:]}"
    version, has_ipykernel = out.stdout.split()
    if not version.split(".")[0].isdigit() or int(version.split(".")[0]) < 3:
        return (f"{python} has no SageMaker SDK v3 (sagemaker {version}): "
                f"{python} -m pip install 'sagemaker>=3'")
    if has_ipykernel != "True":
        return f"{python} has no ipykernel: {python} -m pip install ipykernel"
    return None


def readable(python: str) -> tuple[Path, ...]:
    """What the sandbox must show a kernel running ``python`` (read-only, at their paths)."""
    return tuple(runtime_paths(python))

"""The kernels' launcher (``cove/_notebook_kernel.py``) leaves the notebook's own modules alone:
a module beside the notebook named like one of cove's (``errors``, ``config``, ``_sdk_polls``, or
``cove`` itself) is the one the notebook imports, as on SageMaker, and the kernel still starts
with the SDK's waits shortened.  Each kernel is started from its kernelspec, as JupyterLab
starts it (in the notebook's directory), without a whole notebook instance."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from cove.notebooks._kernels import Kernel, v2_kernel, v3_kernel

USER_MODULES = ("cove", "errors", "config", "_sdk_polls", "cove_sdk_polls")
PROBE = f"""
import inspect, json, sys
import sagemaker.session
seen = {{}}
for name in {USER_MODULES!r}:
    if name in sys.modules:  # imported before the notebook asked (by the launcher)
        seen[name] = "imported already: " + repr(sys.modules[name])
        continue
    try:
        seen[name] = getattr(__import__(name), "WHO", "not the user's")
    except Exception as exc:
        seen[name] = repr(exc)
seen["poll"] = inspect.signature(
    sagemaker.session.Session.wait_for_endpoint).parameters["poll"].default
print(json.dumps(seen))
"""


def run_in_kernel(kernel: Kernel, tmp_path: Path, code: str) -> str:
    """Start ``kernel`` from its kernelspec in ``tmp_path / "notebook"``; what ``code`` wrote."""
    spec = tmp_path / "kernels" / kernel.name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_bytes(kernel.json())
    manager = KernelManager(kernel_name=kernel.name, kernel_spec_manager=KernelSpecManager(
        kernel_dirs=[str(tmp_path / "kernels")]))
    manager.start_kernel(cwd=str(tmp_path / "notebook"))
    client = manager.client()
    client.start_channels()
    out: list[str] = []
    try:
        client.wait_for_ready(timeout=120)
        reply = client.execute_interactive(code, timeout=120, output_hook=lambda msg: out.append(
            msg["content"]["text"] if msg["msg_type"] == "stream" else ""))
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return "".join(out)


@pytest.mark.parametrize("make", [v2_kernel, v3_kernel], ids=["python3", "sdk-v3"])
def test_the_notebooks_modules_are_the_ones_it_imports(make: Callable[[str], Kernel],
                                                       tmp_path: Path) -> None:
    notebook = tmp_path / "notebook"
    notebook.mkdir()
    for name in USER_MODULES:
        (notebook / f"{name}.py").write_text("WHO = 'the user'\n")
    printed = run_in_kernel(make(sys.executable), tmp_path, PROBE).splitlines()
    seen: dict[str, Any] = json.loads(printed[-1])  # after the SDK's config notes
    assert seen.pop("poll") == 1  # the launcher still shortened the SDK's waits
    assert seen == dict.fromkeys(USER_MODULES, "the user")

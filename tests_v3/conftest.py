"""The SageMaker Python SDK v3 suite.  v2 and v3 cannot share an environment, so `make test`
runs this directory in its own (``.venv-v3``); the main run never collects it (``testpaths``).
The servers and clients are the main suite's (``tests/conftest.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (  # noqa: F401 - fixtures, found by pytest through this module
    CoveServer,
    _isolated_aws_environment,
    bucket,
    cove,
    fresh_cove,
    s3,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    import sagemaker.core  # noqa: F401 - this suite needs v3; v2 has no sagemaker.core


def exported_env(server: CoveServer) -> dict[str, str]:
    """What `cove env` prints for ``server``, as a dictionary."""
    out = subprocess.run([sys.executable, "-m", "cove", "env"], text=True, timeout=120,
                         capture_output=True, env={**os.environ, "COVE_HOME": str(server.home)})
    assert out.returncode == 0, out.stderr
    return dict(line.removeprefix("export ").split("=", 1)
                for line in out.stdout.splitlines() if line.startswith("export "))


@pytest.fixture
def cove_env(cove: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:  # noqa: F811
    """What `eval "$(cove env)"` exports, in this process's environment."""
    exported = exported_env(cove)
    for name, value in exported.items():
        monkeypatch.setenv(name, value)
    return exported


ROOT = Path(__file__).resolve().parents[1]
ROLE = "arn:aws:iam::000000000000:role/CoveExecutionRole"


def cove_python() -> str:
    """cove's own environment (JupyterLab, PyTorch, SDK v2: where `make test` runs the main
    suite).  Notebook instances and Torchrun jobs need it; a v3 user's cove runs there too,
    apart from the v3 environment their own code uses."""
    python = os.environ.get("COVE_TEST_SERVER_PYTHON") or str(ROOT / ".venv" / "bin" / "python")
    if not os.path.exists(python):
        pytest.fail(f"cove's own environment {python} is missing: make .venv/.test-installed "
                    "(or name another with COVE_TEST_SERVER_PYTHON)")
    return python


def platform_cove(home: Path, **env: str) -> CoveServer:
    """A cove on its own environment whose notebook instances offer this suite's Python (SDK
    v3) as their "Python 3 (SageMaker SDK v3)" kernel."""
    return CoveServer(home, {"COVE_SDK_V3_PYTHON": sys.executable, **env},
                      python=cove_python()).start()


def create_instance(server: CoveServer, name: str) -> None:
    """A notebook instance on ``server``, InService."""
    sm = server.client("sagemaker")
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium",
                                RoleArn=ROLE)
    sm.get_waiter("notebook_instance_in_service").wait(
        NotebookInstanceName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 360})


@pytest.fixture(scope="session")
def v3_notebook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    """One cove and one InService notebook instance, ``v3``, per test worker, for the
    tutorials it runs (each JupyterLab start costs seconds).  This cove
    runs on the v3 environment itself: the handler ModelBuilder generates for an
    ``InferenceSpec`` imports ``sagemaker.serve`` in the model worker, which runs cove's
    environment (see the README's SDK v3 section)."""
    server = CoveServer(tmp_path_factory.mktemp("v3-notebook") / "home",
                        {"COVE_SDK_V3_PYTHON": sys.executable}).start()
    try:
        create_instance(server, "v3")
        yield server
    finally:
        server.stop()


def run_in_instance(server: CoveServer, name: str, notebook: Path, kernel: str,
                    **options: Any) -> Any:
    """Run ``notebook`` on ``kernel`` in instance ``name``, as ``tests/examples`` runs the v2
    tutorials (``cove.notebooks.run_notebook``: nbclient over the instance's own kernel)."""
    from cove.notebooks import run_notebook

    sm = server.client("sagemaker")
    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"]
    directory = server.home / "notebooks" / name
    return run_notebook(notebook, url, directory / "SageMaker",
                        directory / "home" / ".local" / "share" / "jupyter" / "runtime",
                        kernel_name=kernel, **options)

"""The SageMaker Python SDK v3 suite.  v2 and v3 cannot share an environment, so `make test`
runs this directory in its own (``.venv-v3``); the main run never collects it (``testpaths``).
The servers and clients are the main suite's (``tests/conftest.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
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

"""The SageMaker Python SDK v3 suite.  v2 and v3 cannot share an environment, so `make test`
runs this directory in its own (``.venv-v3``); the main run never collects it (``testpaths``).
The servers and clients are the main suite's (``tests/conftest.py``)."""

from __future__ import annotations

import pytest

from tests.conftest import (  # noqa: F401 - fixtures, found by pytest through this module
    CoveServer,
    _isolated_aws_environment,
    bucket,
    cove,
    s3,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    import sagemaker.core  # noqa: F401 - this suite needs v3; v2 has no sagemaker.core

"""Helpers for function tests: zips of handler code and a boto3 ``lambda`` client."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import CoveServer

ROLE = "arn:aws:iam::123456789012:role/CoveExecutionRole"


def zip_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.fixture
def lam(cove: CoveServer) -> Any:
    return cove.client("lambda")


@pytest.fixture
def make_function(lam: Any) -> Callable[..., str]:
    """Create a function from handler source; returns its (unique) name."""

    def make(source: str, **config: Any) -> str:
        name = config.pop("name", f"fn-{uuid.uuid4().hex[:10]}")
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                            Handler="lambda_function.handler",
                            Code={"ZipFile": zip_of({"lambda_function.py": source})}, **config)
        return name

    return make

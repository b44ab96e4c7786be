"""The README's functions-and-gateway example works as printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.test_readme import block, run_python


def test_functions_and_gateway_example(fresh_cove: Any, tmp_path: Path) -> None:
    out = run_python(fresh_cove, tmp_path, block("python", "apigatewayv2"))
    assert out.splitlines() == ["b'HELLO'", "{'statusCode': 200, 'body': 'HI'}"]

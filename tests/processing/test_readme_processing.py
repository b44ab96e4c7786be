"""The README's processing-job example works as printed, against a real cove."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.test_readme import block, run_python


def test_processing_example(cove: Any, tmp_path: Path) -> None:
    out = run_python(cove, tmp_path, block("python", "SKLearnProcessor(framework_version"))
    assert out.strip().splitlines()[-1] == "b'-2,-2\\n0,0\\n2,2\\n'", out

"""Cached requirements.txt environments: keyed by the file and the local packages it names,
installed from the file's directory, layered on cove's own packages."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cove import errors
from cove.executors import choose_sandbox
from cove.training._envs import Environments
from tests.training.test_job_lifecycle import _tiny_package


def _answer(python: str) -> str:
    out = subprocess.run([python, "-c", "import covetestpkg, cove; print(covetestpkg.ANSWER)"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_a_rebuilt_local_wheel_gets_a_new_environment(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "requirements.txt").write_text("./covetestpkg-1.0-py3-none-any.whl\n")
    envs, lines = Environments(tmp_path / "envs", choose_sandbox()), []
    _tiny_package(code, answer=1)
    first = envs.python_for(code / "requirements.txt", lines.append)
    assert _answer(first) == "1"
    assert envs.python_for(code / "requirements.txt", lines.append) == first
    assert "Using the cached environment" in lines[-1]
    _tiny_package(code, answer=2)  # same path and requirements text, new contents
    second = envs.python_for(code / "requirements.txt", lines.append)
    assert second != first and _answer(second) == "2"


def test_a_failed_install_says_what_pip_said(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("./missing-1.0-py3-none-any.whl\n")
    with pytest.raises(errors.ClientError) as err:
        Environments(tmp_path / "envs", choose_sandbox()).python_for(
            tmp_path / "requirements.txt", print)
    assert "missing-1.0-py3-none-any.whl" in err.value.message
    assert err.value.message.startswith("installing requirements.txt failed (exit 1): ERROR:")

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


@pytest.mark.parametrize("settings", [
    '{"requirements": "../../etc/passwd"}', '{"requirements": "/etc/passwd"}',
    '{"requirements": "absent.txt"}', '{"requirements": "link.txt"}', "not json"])
def test_driver_requirements_stay_in_the_code_channel(tmp_path: Path, settings: str) -> None:
    """SDK v3's sourcecode.json is the job's own file: it names a file of the code channel or
    the job fails with a ClientError; cove never reads beyond it."""
    from cove.training._host import driver_requirements

    (tmp_path / "sm_drivers").mkdir()
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "link.txt").symlink_to("/etc/passwd")
    (tmp_path / "sm_drivers" / "sourcecode.json").write_text(settings)
    with pytest.raises(errors.ClientError):
        driver_requirements(tmp_path)


def test_driver_requirements_named(tmp_path: Path) -> None:
    from cove.training._host import driver_requirements

    (tmp_path / "sm_drivers").mkdir()
    (tmp_path / "code" / "deps").mkdir(parents=True)
    (tmp_path / "code" / "deps" / "req.txt").write_text("numpy\n")
    source = tmp_path / "sm_drivers" / "sourcecode.json"
    source.write_text('{"requirements": "deps/req.txt", "entry_script": "train.py"}')
    assert driver_requirements(tmp_path) == "deps/req.txt"
    source.write_text('{"requirements": null, "entry_script": "train.py"}')
    assert driver_requirements(tmp_path) is None

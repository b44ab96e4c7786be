"""The README's examples work as printed, against a real cove."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"


def block(language: str, containing: str) -> str:
    for body in re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S):
        if containing in body:
            return body
    raise AssertionError(f"no {language} block with {containing!r} in the README")


def client_env(cove: Any) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    bin_dir = str(Path(sys.executable).parent)
    return {**clean, **cove.env(), "PATH": f"{bin_dir}:{clean.get('PATH', '')}"}


def run_python(cove: Any, tmp_path: Path, code: str) -> str:
    script = tmp_path / "example.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], env=client_env(cove), cwd=tmp_path,
                         text=True, capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_boto3_then_sdk_examples(cove: Any, tmp_path: Path) -> None:
    out = run_python(cove, tmp_path, block("python", "boto3.client"))
    assert "['train/hello.csv']" in out and "b'1,2,3\\n'" in out
    assert ":assumed-role/" in out
    # the batch transform example continues the training one, as a reader runs them
    out = run_python(cove, tmp_path, block("python", "xgb.fit")
                     + block("python", "xgb.transformer"))
    lines = out.strip().splitlines()
    assert any(line.endswith("/output/model.tar.gz") for line in lines), out
    # The SDK's progress dots share the line; a prediction (a number) came back.
    assert any(re.search(r"b'-?[0-9.]+(e-?[0-9]+)?'$", line) for line in lines), out
    # ... and the transform's output: one prediction per input line
    assert re.fullmatch(r"b'(-?[0-9.]+(e-?[0-9]+)?\\n){3}'", lines[-1]), lines[-1]


def test_tuning_example(cove: Any, tmp_path: Path) -> None:
    out = run_python(cove, tmp_path, block("python", "HyperparameterTuner"))
    assert "FinalObjectiveValue" in out
    best = re.search(r"best: (\S+)", out)
    assert best and re.fullmatch(r"sagemaker-xgboost-\d{6}-\d{4}-\d{3}-[0-9a-f]{8}",
                                 best.group(1)), out


def test_aws_cli_example(cove: Any, tmp_path: Path) -> None:
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", block("sh", "aws s3 mb")],
                         env=client_env(cove), cwd=tmp_path, text=True, capture_output=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "docs/hello.txt" in out.stdout and "hello from the aws CLI" in out.stdout


def test_sagemaker_session_example(cove: Any, tmp_path: Path) -> None:
    """`cove.sagemaker_session()` / `cove.execution_role()` as the README prints them."""
    script = tmp_path / "session.py"
    script.write_text(block("python", "cove.sagemaker_session()"))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
           "COVE_HOME": str(cove.home)}
    out = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path, text=True,
                         capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr
    account = cove.credentials["account_id"]
    assert out.stdout.splitlines()[-1].split() == [
        f"sagemaker-us-east-1-{account}", f"arn:aws:iam::{account}:role/CoveExecutionRole"]


def test_scale_out_example(tmp_path: Path) -> None:
    """The "Scale out" block, in a home and cluster directory of its own, on a free port."""
    import socket

    import pytest

    pytest.importorskip("ray", reason="pip install 'cove[ray]'")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    ray_dir = Path(tempfile.mkdtemp(prefix="crr-"))  # short: Ray's socket paths live in it
    script = (block("sh", "--executor ray").replace("pip install 'cove[ray]'", "true")
              .replace("/tmp/cove-ray", str(ray_dir)).replace("6380", port)
              .replace("python -m", f"{sys.executable} -m"))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "COVE_"))}
    env = {**clean, "COVE_HOME": str(tmp_path / "home"),
           "PATH": f"{Path(sys.executable).parent}:{clean.get('PATH', '')}"}
    try:
        out = subprocess.run(
            ["bash", "-euo", "pipefail", "-c",
             f"trap 'cove down >/dev/null 2>&1 || true; kill %1; wait' EXIT\n{script}"],
            env=env, cwd=tmp_path, text=True, capture_output=True, timeout=300)
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"ray at 127.0.0.1:{port} (2 nodes)" in out.stdout, out.stdout
    assert "of 8 CPUs free" in out.stdout and "node2" in out.stdout
    assert "of 4 CPUs free" in out.stdout


def test_registry_and_pipeline_example(fresh_cove: Any, tmp_path: Path) -> None:
    """The pipeline example runs as printed, and again (the pipeline exists by then)."""
    boto3_setup = block("python", "boto3.client")  # it makes the bucket the example uses
    run_python(fresh_cove, tmp_path, boto3_setup)
    for version in (1, 2):
        out = run_python(fresh_cove, tmp_path, block("python", "start_pipeline_execution"))
        assert "pipeline: Succeeded" in out, out
        assert f"approved version {version}" in out, out

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

import pytest

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


#: Blocks the in-order run leaves to tests of their own, and why.
ELSEWHERE = {
    "make demo": "the set-up commands themselves",
    "cove demo --data": "needs the IMDB CSV; tests/examples/test_demo_browser.py runs the demo",
    "cove notebook": "JupyterLab instances: tests/notebooks and tests/examples/test_tutorials.py",
    "get_execution_role()": "runs inside a notebook instance: tests/notebooks",
    "--executor ray": "a Ray cluster: test_scale_out_example below",
    "from sagemaker.core": "SDK v3, which cannot share v2's environment: tests_v3/ runs it",
}

DRIVER = """
import subprocess, sys, traceback
namespace = {"__name__": "__main__"}
for number, (language, body) in enumerate(BLOCKS):
    print(f"--- block {number} ({language})", flush=True)
    if language == "python":
        exec(compile(body, f"README block {number}", "exec"), namespace)
    else:
        subprocess.run(["bash", "-euo", "pipefail", "-c", body], check=True)
    sys.stdout.flush()
"""


def readme_blocks() -> list[tuple[str, str]]:
    """Every ``sh`` and ``python`` block of the README, in order, but those run elsewhere."""
    blocks = re.findall(r"```(sh|python)\n(.*?)```", README.read_text(), re.S)
    return [(language, body) for language, body in blocks
            if not any(marker in body for marker in ELSEWHERE)]


@pytest.mark.slow
@pytest.mark.timeout(3000)  # two passes of training, deploying, transforming and tuning
def test_every_readme_block_runs_in_order_twice(tmp_path: Path) -> None:
    """A reader's session: the set-up block starts a fresh cove (its own home, any free port);
    then every block in the order printed, in one Python session (a later block may use an
    earlier one's names) run with `cove run`; then all of it again."""
    blocks = readme_blocks()
    setup = [body for language, body in blocks if "cove up --detach" in body]
    assert len(setup) == 1, "the README's set-up block starts cove"
    assert [b for b in blocks if "xgb.transformer" in b[1]] and [
        i for i, b in enumerate(blocks) if "xgb.fit" in b[1]][0] < [
        i for i, b in enumerate(blocks) if "xgb.transformer" in b[1]][0]
    bin_dir = Path(sys.executable).parent
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "COVE_"))}
    env = {**clean, "COVE_HOME": str(tmp_path / "home"), "COVE_PORT": "0",
           "PATH": f"{bin_dir}:{clean.get('PATH', '')}"}
    driver = tmp_path / "driver.py"
    driver.write_text(f"BLOCKS = {[b for b in blocks if b[1] not in setup]!r}\n{DRIVER}")
    script = (setup[0].replace("source .venv/bin/activate", f"source {bin_dir}/activate")
              + f"\ncove run -- python {driver}\n")
    try:
        for attempt in (1, 2):
            out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env,
                                 cwd=tmp_path, text=True, capture_output=True, timeout=1500)
            assert out.returncode == 0, f"run {attempt}:\n{out.stdout[-3000:]}\n{out.stderr}"
            assert "Traceback" not in out.stderr, f"run {attempt}: {out.stderr}"
            check_outputs(out.stdout)
    finally:
        subprocess.run([str(bin_dir / "cove"), "down"], env=env, timeout=120,
                       capture_output=True)


def check_outputs(out: str) -> None:
    """What the blocks print: their objects, a model, predictions, trials, the function."""
    assert "'train/hello.csv'" in out and "b'1,2,3\\n'" in out and ":assumed-role/" in out
    assert "docs/hello.txt" in out and "hello from the aws CLI" in out
    assert re.search(r"/output/model\.tar\.gz$", out, re.M), out
    # the endpoint's prediction (the SDK's progress dots share its line), then the transform's
    # output: one prediction per input line
    assert re.search(r"b'-?[0-9.]+(e-?[0-9]+)?'$", out, re.M), out
    assert re.search(r"^b'(-?[0-9.]+(e-?[0-9]+)?\\n){3}'$", out, re.M), out
    assert "FinalObjectiveValue" in out
    assert re.search(r"best: sagemaker-xgboost-\d{6}-\d{4}-\d{3}-[0-9a-f]{8}", out), out
    assert "b'HELLO'" in out


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
    env = {**clean, "COVE_HOME": str(tmp_path / "home"), "COVE_PORT": "0",  # never 4599
           "PATH": f"{Path(sys.executable).parent}:{clean.get('PATH', '')}"}
    try:
        out = subprocess.run(
            ["bash", "-euo", "pipefail", "-c",
             f"trap 'cove down >/dev/null 2>&1 || true; kill %1; wait' EXIT\n{script}"],
            # a second Ray cluster beside the Ray tests' one, on a loaded 2-core machine: its
            # nodes may take minutes to register (27 s quiet, 55 s beside two CPU burners)
            env=env, cwd=tmp_path, text=True, capture_output=True, timeout=600)
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

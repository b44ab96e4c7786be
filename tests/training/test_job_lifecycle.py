"""Queueing, restarts, cached requirement environments, several hosts, the `cove jobs` CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path
from typing import Any

from tests.conftest import CoveServer
from tests.training.helpers import (
    log_lines,
    script_job,
    tar_gz,
    unique,
    upload_source,
    wait,
    wait_for,
)

SLEEPER = """
import time, os
print("started", flush=True)
time.sleep(float(os.environ.get("SM_HP_SECONDS", "1")))
print("finished", flush=True)
"""


def _model_files(s3: Any, describe: dict[str, Any]) -> dict[str, bytes]:
    bucket, key = describe["ModelArtifacts"]["S3ModelArtifacts"][5:].split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()  # type: ignore[union-attr]
                if m.isfile()}


def test_jobs_beyond_capacity_queue_and_start_in_order(tmp_path: Path) -> None:
    server = CoveServer(tmp_path / "home", {"COVE_MAX_PARALLEL_JOBS": "1"}).start()
    try:
        s3, sm = server.client("s3"), server.client("sagemaker")
        s3.create_bucket(Bucket="queue")
        source = upload_source(s3, "queue", {"train.py": SLEEPER})
        names = [unique(f"q{i}") for i in range(3)]
        for name in names:
            sm.create_training_job(**script_job(name, "queue", source,
                                                hyperparameters={"seconds": "1"}))
        states = [sm.describe_training_job(TrainingJobName=n)["SecondaryStatus"] for n in names]
        assert states[1:] == ["Starting", "Starting"]
        done = [wait(sm, n) for n in names]
        assert all(d["TrainingJobStatus"] == "Completed" for d in done)
        starts = [d["TrainingStartTime"] for d in done]
        ends = [d["TrainingEndTime"] for d in done]
        assert starts == sorted(starts)
        assert starts[1] >= ends[0] and starts[2] >= ends[1]  # one at a time, in order
    finally:
        server.stop()


def test_restart_mid_job_fails_it_honestly_and_starts_queued(tmp_path: Path) -> None:
    server = CoveServer(tmp_path / "home", {"COVE_MAX_PARALLEL_JOBS": "1"}).start()
    try:
        s3, sm = server.client("s3"), server.client("sagemaker")
        s3.create_bucket(Bucket="restart")
        source = upload_source(s3, "restart", {"train.py": SLEEPER})
        running, queued = unique("running"), unique("queued")
        sm.create_training_job(**script_job(running, "restart", source,
                                            hyperparameters={"seconds": "60"}))
        sm.create_training_job(**script_job(queued, "restart", source,
                                            hyperparameters={"seconds": "0"}))
        logs = server.client("logs")
        wait_for(lambda: "started" in log_lines(logs, running))
        server.kill()
        server.start()
        sm = server.client("sagemaker")
        d = sm.describe_training_job(TrainingJobName=running)
        assert d["TrainingJobStatus"] == "Failed"
        assert "restarted" in d["FailureReason"]
        assert wait(sm, queued)["TrainingJobStatus"] == "Completed"
    finally:
        server.stop()


def test_requirements_are_installed_once_and_cached(s3: Any, cove: Any, bucket: str,
                                                    tmp_path: Path) -> None:
    sm, logs = cove.client("sagemaker"), cove.client("logs")
    package = _tiny_package(tmp_path)  # shipped in the source: the sandbox sees nothing else
    train = textwrap.dedent("""
        import os, covetestpkg
        open(os.path.join(os.environ["SM_MODEL_DIR"], "answer.txt"), "w").write(
            str(covetestpkg.ANSWER))
    """).encode()
    key = f"code/{unique('req')}/sourcedir.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=tar_gz({
        "train.py": train, "requirements.txt": f"./{package.name}\n".encode(),
        package.name: package.read_bytes()}))
    source = f"s3://{bucket}/{key}"
    first, second = unique("req1"), unique("req2")
    sm.create_training_job(**script_job(first, bucket, source))
    d1 = wait(sm, first, timeout=300)
    assert d1["TrainingJobStatus"] == "Completed", d1.get("FailureReason")
    assert _model_files(s3, d1)["answer.txt"] == b"42"
    sm.create_training_job(**script_job(second, bucket, source))
    d2 = wait(sm, second, timeout=300)
    assert _model_files(s3, d2)["answer.txt"] == b"42"
    assert any("Installing requirements.txt" in line for line in log_lines(logs, first))
    assert any("Using the cached environment" in line for line in log_lines(logs, second))


def _tiny_package(tmp_path: Path, answer: int = 42) -> Path:
    """A one-module wheel on local disk (no package index needed) for requirements.txt."""
    import zipfile

    wheel = tmp_path / "covetestpkg-1.0-py3-none-any.whl"
    info = "covetestpkg-1.0.dist-info"
    files = {"covetestpkg/__init__.py": f"ANSWER = {answer}\n",
             f"{info}/METADATA": "Metadata-Version: 2.1\nName: covetestpkg\nVersion: 1.0\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: cove-tests\nRoot-Is-Purelib: true\n"
                             "Tag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def test_two_hosts_see_each_other(s3: Any, cove: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    train = """
        import json, os, socket
        hosts = json.loads(os.environ["SM_HOSTS"])
        me = os.environ["SM_CURRENT_HOST"]
        info = {"me": me, "hosts": hosts, "resolved": [socket.gethostbyname(h) for h in hosts]}
        if me == hosts[0]:
            json.dump(info, open(os.path.join(os.environ["SM_MODEL_DIR"], "info.json"), "w"))
        print(json.dumps(info), flush=True)
    """
    source = upload_source(s3, bucket, {"train.py": train})
    name = unique("twohost")
    request = script_job(name, bucket, source)
    request["ResourceConfig"]["InstanceCount"] = 2
    sm.create_training_job(**request)
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    info = json.loads(_model_files(s3, d)["info.json"])
    assert info["me"] == "algo-1" and info["hosts"] == ["algo-1", "algo-2"]
    assert info["resolved"] == ["127.0.0.1", "127.0.0.1"]
    lines = log_lines(cove.client("logs"), name)
    assert any('"me": "algo-2"' in line for line in lines)


def test_cli_jobs_commands(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    source = upload_source(s3, bucket, {"train.py": "print('hello from the job')\n"})
    name = unique("clijob")
    sm.create_training_job(**script_job(name, bucket, source))
    env = {**os.environ, "COVE_HOME": str(cove.home)}

    def run(*args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "cove", "jobs", *args], env=env, text=True,
                             capture_output=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert "hello from the job" in run("logs", name, "--follow")
    assert name in run("ls")
    described = run("describe", name)
    assert "Completed" in described and "Downloading" in described
    missing = subprocess.run([sys.executable, "-m", "cove", "jobs", "describe", "nope-nope"],
                             env=env, text=True, capture_output=True, timeout=60)
    assert missing.returncode == 1 and "Could not find" in missing.stderr
    assert "Traceback" not in missing.stderr

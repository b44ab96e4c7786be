"""cove run as an unprivileged user (CI runs the rest as root): the sandbox holds the same
way — a training job and a model worker, driven through boto3, see what the isolation probe
expects.  Where the kernel refuses unprivileged user namespaces the test says so and why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CoveServer
from tests.hosting.test_endpoints import SK_IMAGE, _tar, deploy
from tests.sandbox.helpers import assert_confined, last_json, loopback_service
from tests.sandbox.test_isolation_serving import INFERENCE
from tests.sandbox.test_isolation_training import TRAIN
from tests.training.helpers import log_lines, script_job, unique, upload_source, wait

NOBODY = 65534
AS_NOBODY = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")


def _refusal() -> str:
    """Why an unprivileged user cannot make a user namespace here ("" if it can)."""
    result = subprocess.run([*AS_NOBODY, "unshare", "--user", "--map-root-user", "true"],
                            capture_output=True, text=True, timeout=60)
    if result.returncode == 0:
        return ""
    limit = Path("/proc/sys/user/max_user_namespaces")
    return (f"unprivileged user namespaces are unavailable: {result.stderr.strip()} "
            f"(max_user_namespaces={limit.read_text().strip() if limit.exists() else '?'})")


def _closed_ancestor(path: Path) -> Path | None:
    """The highest directory above ``path`` that others may not enter (/root, where pyenv
    keeps the interpreter), or None."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not parent.stat().st_mode & 0o001:
            return parent
    return None


def _as_nobody(base: Path) -> tuple[str, ...]:
    """The prefix that runs cove as nobody, with no capabilities.  If the interpreter lives
    below a directory nobody may not enter, cove gets a private mount namespace (as a
    container would) where that directory shows only the interpreter's part of it."""
    interpreter = Path(os.path.realpath(sys.executable))
    closed = _closed_ancestor(interpreter)
    if closed is None:
        return AS_NOBODY
    keep = closed / interpreter.relative_to(closed).parts[0]
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True,
                           timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"the interpreter {interpreter} is under {closed}, which an unprivileged "
                    f"user cannot enter, and no mount namespace can show it to one here: "
                    f"{probe.stderr.strip()}")
    script = ('set -e; mkdir -p "$COVE_KEEP"; mount --bind "$1" "$COVE_KEEP"; '
              'mount -t tmpfs -o mode=0755 cove-test "$2"; mkdir "$1"; '
              'mount --bind "$COVE_KEEP" "$1"; shift 2; exec "$@"')
    return ("env", f"COVE_KEEP={base / '.keep'}", "unshare", "--mount",
            "--propagation", "private", "sh", "-c", script, "sh", str(keep), str(closed),
            *AS_NOBODY)


@pytest.fixture(scope="module")
def unprivileged() -> Iterator[CoveServer]:
    if os.geteuid() != 0:
        pytest.skip("cove already runs unprivileged here: every other sandbox test covers it")
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to start cove as another user")
    refusal = _refusal()
    if refusal:
        pytest.skip(refusal)
    # A home the unprivileged user owns, outside root's private temporary directories.
    base = Path(tempfile.mkdtemp(prefix="cove-unprivileged-", dir="/tmp"))
    os.chown(base, NOBODY, NOBODY)
    server = CoveServer(base / "home", {"HOME": str(base), "TMPDIR": str(base)},
                        prefix=_as_nobody(base))
    (base / "home").mkdir()
    os.chown(base / "home", NOBODY, NOBODY)
    try:
        server.start(timeout=120)
        server.client("s3").create_bucket(Bucket="unprivileged")
        yield server
    finally:
        if server.proc is not None:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_cove_itself_runs_unprivileged(unprivileged: CoveServer) -> None:
    assert unprivileged.proc is not None
    status = Path(f"/proc/{unprivileged.proc.pid}/status").read_text()
    uids = status.split("Uid:")[1].split("\n")[0].split()
    assert uids == [str(NOBODY)] * 4, uids
    assert status.split("CapEff:")[1].split()[0] == "0000000000000000"


def test_a_training_job_is_confined_under_unprivileged_cove(unprivileged: CoveServer) -> None:
    sm, s3 = unprivileged.client("sagemaker"), unprivileged.client("s3")
    source = upload_source(s3, "unprivileged", {"train.py": TRAIN})
    name = unique("nobody")
    with loopback_service() as port:
        sm.create_training_job(**script_job(name, "unprivileged", source, hyperparameters={
            "home": f'"{unprivileged.home}"', "port": str(port)}))
        d = wait(sm, name, timeout=300)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    found = last_json("\n".join(log_lines(unprivileged.client("logs"), name)))
    assert_confined(found, str(unprivileged.home))


def test_an_endpoint_is_confined_under_unprivileged_cove(unprivileged: CoveServer) -> None:
    sm, s3 = unprivileged.client("sagemaker"), unprivileged.client("s3")
    runtime = unprivileged.client("sagemaker-runtime")
    key = f"models/{unique('probe')}/model.tar.gz"
    s3.put_object(Bucket="unprivileged", Key=key,
                  Body=_tar({"code/inference.py": INFERENCE.encode()}))
    name = deploy(sm, [("AllTraffic", f"s3://unprivileged/{key}", 1.0, 1)], image=SK_IMAGE,
                  environment={"SAGEMAKER_PROGRAM": "inference.py",
                               "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"})
    try:
        with loopback_service() as port:
            reply = runtime.invoke_endpoint(EndpointName=name, ContentType="text/plain",
                                            Body=f"{unprivileged.home} {port}".encode())
        found: dict[str, Any] = json.loads(reply["Body"].read())
        found["buckets"] = 0  # keys for model workers are not this test's subject
        assert_confined(found, str(unprivileged.home))
    finally:
        sm.delete_endpoint(EndpointName=name)



"""An instance type bounds the code as a SageMaker instance does: a fork bomb and a memory hog
fail their job (or endpoint) with a reason naming the limit, cove stays healthy, and a
normal job on the same server is unaffected.  The server maps ml.r5.large onto 1 vCPU and
1 GiB (``COVE_INSTANCE_TYPES``), so the limits are small: 256 tasks, 1 GiB."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CoveServer
from tests.hosting.test_endpoints import SK_IMAGE, _tar
from tests.training.helpers import ROLE, log_lines, script_job, unique, upload_source, wait

SMALL = "ml.r5.large"

FORK_BOMB = r'''
import os, time
print("forking", flush=True)
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
'''

MEMORY_HOG = r'''
import subprocess
import sys
import time
print("allocating", flush=True)
hoard = []
while True:
    hoard.append(bytearray(32 << 20))  # zero-filled: resident at once
    time.sleep(0.01)
'''

BIG_FILE = r'''
with open("/opt/ml/output/data/huge", "wb") as out:
    out.seek(200 << 30)  # sparse: no disk is used, but the file would be 200 GiB
    out.write(b"x")
'''

NORMAL = r'''
import os, threading
threads = [threading.Thread(target=sum, args=(range(10**5),)) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
kids = [os.fork() for _ in range(8)]
if 0 in kids: os._exit(0)
for _ in kids: os.wait()
data = bytearray(200 << 20)  # 200 MiB: well inside 1 GiB
print("normal job done", len(data), flush=True)
'''


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    server = CoveServer(tmp_path_factory.mktemp("quotas") / "home",
                        {"COVE_INSTANCE_TYPES": f"{SMALL}=1:1"}).start()
    server.client("s3").create_bucket(Bucket="quotas")
    yield server
    server.stop()


def _job(server: CoveServer, script: str) -> dict[str, Any]:
    sm, s3 = server.client("sagemaker"), server.client("s3")
    name = unique("quota")
    request = script_job(name, "quotas", upload_source(s3, "quotas", {"train.py": script}))
    request["ResourceConfig"]["InstanceType"] = SMALL
    sm.create_training_job(**request)
    return wait(sm, name, timeout=300)


def _healthy_afterwards(server: CoveServer) -> None:
    d = _job(server, NORMAL)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert "normal job done 209715200" in log_lines(server.client("logs"),
                                                    d["TrainingJobName"])


def test_a_fork_bomb_fails_its_job_and_cove_stays_healthy(small: CoveServer) -> None:
    started = time.monotonic()
    d = _job(small, FORK_BOMB)
    assert d["TrainingJobStatus"] == "Failed"
    assert f"exceeded the process limit of {SMALL} (256 processes" in d["FailureReason"], d
    assert time.monotonic() - started < 120
    _healthy_afterwards(small)


def test_a_memory_hog_fails_its_job(small: CoveServer) -> None:
    d = _job(small, MEMORY_HOG)
    assert d["TrainingJobStatus"] == "Failed"
    assert f"exceeded the memory of {SMALL} (1 GiB)" in d["FailureReason"], d
    _healthy_afterwards(small)


def test_a_file_beyond_the_limit_cannot_be_written(small: CoveServer) -> None:
    d = _job(small, BIG_FILE)
    assert d["TrainingJobStatus"] == "Failed"
    assert "File too large" in d["FailureReason"], d


def test_a_model_worker_hogging_memory_fails_its_endpoint(small: CoveServer) -> None:
    sm, s3 = small.client("sagemaker"), small.client("s3")
    code = ("import time\nhoard = []\n\ndef model_fn(model_dir):\n    while True:\n"
            "        hoard.append(bytearray(32 << 20))\n        time.sleep(0.01)\n")
    key = f"models/{unique('hog')}/model.tar.gz"
    s3.put_object(Bucket="quotas", Key=key, Body=_tar({"code/inference.py": code.encode()}))
    name = unique("hog")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": SK_IMAGE, "ModelDataUrl": f"s3://quotas/{key}",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1,
         "InstanceType": SMALL}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    deadline = time.monotonic() + 180
    while (d := sm.describe_endpoint(EndpointName=name))["EndpointStatus"] == "Creating":
        assert time.monotonic() < deadline, d
        time.sleep(0.2)
    assert d["EndpointStatus"] == "Failed", d
    assert f"exceeded the memory of {SMALL} (1 GiB)" in d["FailureReason"], d
    sm.delete_endpoint(EndpointName=name)


def test_default_limits_are_those_of_the_instance_type() -> None:
    from cove.executors import quota_for

    quota = quota_for("ml.m5.large")
    assert (quota.memory_bytes, quota.tasks) == (8 << 30, 512)
    assert quota.describe() == "ml.m5.large (8 GiB)"
    assert Path("/usr/bin/prlimit").exists() or Path("/bin/prlimit").exists()


def test_a_sample_walks_page_tables_only_near_the_memory_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The watch samples in cove's server process, beside the request path: a sandbox well
    inside its memory is settled by the kernel's resident counters; near or past it, the exact
    proportional size decides, as before."""
    from cove.executors import Quota, _quotas

    child = subprocess.Popen(  # 64 MiB written, so resident
        [sys.executable, "-c", "import sys; data = bytes(range(256)) * (256 << 10); "
         "print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        exact = _quotas._memory
        walked: list[int] = []
        monkeypatch.setattr(_quotas, "_memory", lambda pid: walked.append(pid) or exact(pid))
        assert _quotas._resident(child.pid) >= exact(child.pid) >= 64 << 20
        assert _quotas.check(child.pid, Quota("ml.test", 1 << 30, 512)) == ""
        assert walked == []
        assert _quotas.check(child.pid, Quota("ml.test", 84 << 20, 512)) == ""
        assert walked == [child.pid]  # above 3/4 of its memory: measured exactly, inside
        over = _quotas.check(child.pid, Quota("ml.test", 48 << 20, 512))
        assert over.startswith("the processes exceeded the memory of ml.test"), over
        assert "exceeded the process limit" in _quotas.check(
            child.pid, Quota("ml.test", 1 << 30, 1))
    finally:
        child.kill()
        child.wait()

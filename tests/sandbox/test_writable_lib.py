"""``/lib`` is writable as in a container (SDK v3's TorchServe handler copies a model's
``shared_libs`` into it), per sandbox: the machine's libraries resolve and cannot be changed,
what one sandbox adds no other sees, and the machine's ``/usr/lib`` never changes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CoveServer
from tests.hosting.test_endpoints import SK_IMAGE, _tar, deploy
from tests.sandbox.helpers import last_json
from tests.training.helpers import log_lines, script_job, tar_gz, unique, upload_source, wait

ZLIB = Path("/usr/lib/x86_64-linux-gnu/libz.so.1")

#: ``use_lib(source)``: copies ``source`` (a directory holding libcovetest.so, a copy of zlib)
#: into /lib the way SDK v3 does, loads it by name, and tries to change the machine's zlib.
USE_LIB = r'''
import ctypes, os, shutil

def use_lib(source):
    found = {"before": os.path.exists("/lib/libcovetest.so")}
    shutil.copytree(source, "/lib", dirs_exist_ok=True)  # what SDK v3's handler does
    with open("/lib/libcovetest.so", "rb") as copied:
        found["size"] = len(copied.read())
    found["version"] = ctypes.CDLL("libcovetest.so").zlibVersion  # the loader finds it by name
    found["version"].restype = ctypes.c_char_p
    found["version"] = found["version"]().decode()
    found["system"] = ctypes.CDLL("libz.so.1") is not None  # the machine's still resolve
    found["changed"] = []
    for attempt, action in (
            ("write", lambda: open("/lib/x86_64-linux-gnu/libz.so.1", "r+b").write(b"X")),
            ("unlink", lambda: os.unlink("/lib/x86_64-linux-gnu/libz.so.1")),
            ("create", lambda: open("/lib/x86_64-linux-gnu/libcovetest.so", "wb")),
            ("usr", lambda: open("/usr/lib/libcovetest.so", "wb"))):
        try:
            action()
            found["changed"].append(attempt)
        except OSError:
            pass
    return found
'''

TRAIN = USE_LIB + r'''
import json, sys
print(json.dumps(use_lib(sys.argv[sys.argv.index("--source") + 1])), flush=True)
'''

SECOND = r'''
import json, os
print(json.dumps({"sees": os.path.exists("/lib/libcovetest.so")}), flush=True)
'''


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def machine_libraries() -> Any:
    """The machine's /usr/lib before and after: nothing added, zlib unchanged."""
    if not ZLIB.exists():
        pytest.skip(f"{ZLIB} is not on this machine")
    before = (sorted(os.listdir("/usr/lib")), _digest(ZLIB))
    yield
    assert (sorted(os.listdir("/usr/lib")), _digest(ZLIB)) == before
    assert not Path("/usr/lib/x86_64-linux-gnu/libcovetest.so").exists()


def _assert_used(found: dict[str, Any]) -> None:
    assert found["before"] is False, found
    assert found["size"] == ZLIB.stat().st_size, found
    assert found["version"] and found["system"], found
    assert found["changed"] == [], found


def test_a_training_job_writes_its_own_lib(cove: CoveServer, s3: Any, bucket: str,
                                           machine_libraries: None) -> None:
    sm, logs = cove.client("sagemaker"), cove.client("logs")
    # the library comes with the code, as a model's shared_libs does
    key = f"code/{unique('lib')}/sourcedir.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=tar_gz({
        "train.py": TRAIN.encode(), "shared_libs/libcovetest.so": ZLIB.read_bytes()}))
    name = unique("lib")
    sm.create_training_job(**script_job(name, bucket, f"s3://{bucket}/{key}", hyperparameters={
        "source": '"/opt/ml/code/shared_libs"'}))
    d = wait(sm, name, timeout=300)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    _assert_used(last_json("\n".join(log_lines(logs, name))))

    second = unique("lib2")
    sm.create_training_job(**script_job(second, bucket, upload_source(
        s3, bucket, {"train.py": SECOND})))
    d = wait(sm, second, timeout=300)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert last_json("\n".join(log_lines(logs, second))) == {"sees": False}


def test_a_model_worker_copies_shared_libs_into_lib(cove: CoveServer, s3: Any, bucket: str,
                                                    machine_libraries: None) -> None:
    sm, runtime = cove.client("sagemaker"), cove.client("sagemaker-runtime")
    inference = USE_LIB + r'''
import json

def model_fn(model_dir):
    return use_lib(model_dir + "/shared_libs")

def transform_fn(model, body, content_type, accept):
    return json.dumps(model), "application/json"
'''
    key = f"models/{unique('lib')}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=_tar({
        "code/inference.py": inference.encode(),
        "shared_libs/libcovetest.so": ZLIB.read_bytes()}))
    name = deploy(sm, [("AllTraffic", f"s3://{bucket}/{key}", 1.0, 1)], image=SK_IMAGE,
                  environment={"SAGEMAKER_PROGRAM": "inference.py",
                               "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"})
    try:
        reply = runtime.invoke_endpoint(EndpointName=name, ContentType="text/plain", Body=b"x")
        _assert_used(json.loads(reply["Body"].read()))
    finally:
        sm.delete_endpoint(EndpointName=name)

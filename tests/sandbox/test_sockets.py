"""A worker's socket is cove's: user code cannot swap it for a link to another worker's socket
(or any socket) and so have cove talk to the wrong thing."""

from __future__ import annotations

import json
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.conftest import CoveServer
from tests.hosting.test_endpoints import SK_IMAGE, _tar, deploy
from tests.training.helpers import unique

VICTIM = r'''
def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    return "victim", "text/plain"
'''

#: Plants a link named like every socket a worker has had (its own, in its directory) to the
#: victim's socket, then keeps answering as itself.
ATTACKER = r'''
import os

def model_fn(model_dir):
    return None

def _plant(target):
    planted = []
    for name in ("/opt/ml/worker.sock", "/opt/ml/sockets/worker-0.sock"):
        try:
            os.makedirs(os.path.dirname(name), exist_ok=True)
            if os.path.lexists(name):
                os.unlink(name)
            os.symlink(target, name)
            planted.append(name)
        except OSError as exc:
            planted.append(f"{name}: {exc}")
    return planted

def transform_fn(model, body, content_type, accept):
    text = body.decode()
    if text.startswith("plant "):
        return "planted " + repr(_plant(text[len("plant "):])), "text/plain"
    return "attacker", "text/plain"
'''

ENVIRONMENT = {"SAGEMAKER_PROGRAM": "inference.py",
               "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}


def _sockets(home: Path, endpoint: str) -> list[Path]:
    return [p for p in (home / "endpoints" / endpoint).rglob("*")
            if stat.S_ISSOCK(p.lstat().st_mode)]


def _model(s3: Any, bucket: str, code: str) -> str:
    key = f"models/{unique('sock')}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=_tar({"code/inference.py": code.encode()}))
    return f"s3://{bucket}/{key}"


def test_a_worker_cannot_redirect_cove_to_another_workers_socket(
        cove: CoveServer, s3: Any, bucket: str) -> None:
    sm, runtime = cove.client("sagemaker"), cove.client("sagemaker-runtime")
    victim = deploy(sm, [("AllTraffic", _model(s3, bucket, VICTIM), 1.0, 1)], image=SK_IMAGE,
                    environment=ENVIRONMENT)
    attacker = deploy(sm, [("AllTraffic", _model(s3, bucket, ATTACKER), 1.0, 1)],
                      image=SK_IMAGE, environment=ENVIRONMENT)
    try:
        targets = _sockets(cove.home, victim)
        assert targets, "the victim's worker socket was not found under cove's home"

        def invoke(body: str) -> str:
            reply = runtime.invoke_endpoint(EndpointName=attacker, ContentType="text/plain",
                                            Body=body.encode())
            return str(reply["Body"].read().decode())

        planted = invoke(f"plant {targets[0]}")
        assert planted.startswith("planted"), planted
        # Many at once: the router opens new connections, which is when a path is followed.
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(invoke, ["hello"] * 48))
        assert set(answers) == {"attacker"}, (planted, sorted(set(answers)))
        assert _answer(runtime, victim) == "victim"
        assert all(stat.S_ISSOCK(p.lstat().st_mode) for p in _sockets(cove.home, victim))
        # cove's own socket for the attacker's worker is still a socket, not the link
        assert all(stat.S_ISSOCK(p.lstat().st_mode) for p in _sockets(cove.home, attacker))
    finally:
        for name in (victim, attacker):
            sm.delete_endpoint(EndpointName=name)


def _answer(runtime: Any, endpoint: str) -> str:
    reply = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/plain", Body=b"x")
    return str(reply["Body"].read().decode())


def test_the_worker_never_sees_a_socket_path(cove: CoveServer, s3: Any, bucket: str) -> None:
    """The worker is given a descriptor, not a path: nothing in its /opt/ml is a socket."""
    code = r'''
import json, os, stat, sys

def model_fn(model_dir):
    return None

def transform_fn(model, body, content_type, accept):
    found = [os.path.join(root, name) for root, dirs, files in os.walk("/opt/ml")
             for name in dirs + files
             if stat.S_ISSOCK(os.lstat(os.path.join(root, name)).st_mode)]
    return json.dumps({"sockets": found, "argv": sys.argv}), "application/json"
'''
    sm, runtime = cove.client("sagemaker"), cove.client("sagemaker-runtime")
    name = deploy(sm, [("AllTraffic", _model(s3, bucket, code), 1.0, 1)], image=SK_IMAGE,
                  environment=ENVIRONMENT)
    try:
        found = json.loads(_answer(runtime, name))
        assert found["sockets"] == [], found
        assert any(arg.startswith("fd:") for arg in found["argv"]), found
    finally:
        sm.delete_endpoint(EndpointName=name)

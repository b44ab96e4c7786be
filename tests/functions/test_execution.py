"""How functions run: errors, timeouts, crashes, the memory limit, concurrency, the sandbox,
restarts, and a function calling a real endpoint through boto3."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import CoveServer
from tests.functions.conftest import ROLE, zip_of


def call(lam: Any, name: str, event: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}), **kwargs)
    return response, json.loads(response["Payload"].read())


def test_unhandled_error(lam: Any, make_function: Any) -> None:
    name = make_function("def handler(e, c):\n    raise ValueError('bad review: ' + e['t'])\n")
    response, error = call(lam, name, {"t": "meh"}, LogType="Tail")
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "bad review: meh"
    assert any("raise ValueError" in line for line in error["stackTrace"])
    assert "[ERROR] ValueError: bad review: meh" in base64.b64decode(
        response["LogResult"]).decode()


def test_import_error_and_missing_handler(lam: Any, make_function: Any) -> None:
    broken = make_function("import no_such_module\n")
    _, error = call(lam, broken)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'lambda_function'" in error["errorMessage"]
    missing = make_function("def other(e, c):\n    return 1\n")
    _, error = call(lam, missing)
    assert error["errorType"] == "Runtime.HandlerNotFound"


def test_timeout_kills_the_worker(lam: Any, make_function: Any) -> None:
    name = make_function("import os, time, uuid\nTOKEN = uuid.uuid4().hex\n"
                         "def handler(e, c):\n"
                         "    if e.get('sleep'):\n        time.sleep(e['sleep'])\n"
                         "    return TOKEN\n", Timeout=1)
    _, pid = call(lam, name)
    started = time.monotonic()
    response, error = call(lam, name, {"sleep": 30})
    assert time.monotonic() - started < 20  # cut off at 1 s, not after 30 (slack for load)
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in error["errorMessage"]
    _, after = call(lam, name)
    assert after != pid  # the timed-out worker was replaced


def test_crash_is_reported_and_the_worker_replaced(lam: Any, make_function: Any) -> None:
    name = make_function("import os, uuid\nTOKEN = uuid.uuid4().hex\n"
                         "def handler(e, c):\n"
                         "    if e.get('die'):\n        os._exit(3)\n"
                         "    return TOKEN\n")
    _, pid = call(lam, name)
    response, error = call(lam, name, {"die": True})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in error["errorMessage"]
    _, after = call(lam, name)
    assert isinstance(after, str) and after != pid


def test_memory_limit(lam: Any, make_function: Any) -> None:
    name = make_function("import os, uuid\nTOKEN = uuid.uuid4().hex\n"
                         "def handler(e, c):\n"
                         "    block = bytearray(e['mb'] * 1024 * 1024)\n"
                         "    return [TOKEN, len(block)]\n", MemorySize=128)
    _, (pid, size) = call(lam, name, {"mb": 64})
    assert size == 64 * 1024 * 1024
    response, error = call(lam, name, {"mb": 512})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.OutOfMemory"
    assert "MemorySize of 128 MB" in error["errorMessage"]
    _, (after, _) = call(lam, name, {"mb": 1})
    assert after != pid  # replaced after running out of memory


def test_boto3_is_importable_and_sees_only_its_environment(lam: Any, make_function: Any,
                                                           cove: CoveServer) -> None:
    name = make_function("import os, boto3\n"
                         "def handler(e, c):\n"
                         "    return {'env': dict(os.environ),\n"
                         "            'buckets': [b['Name'] for b in\n"
                         "                        boto3.client('s3').list_buckets()['Buckets']]}\n",
                         Environment={"Variables": {"MINE": "yes"}})
    _, answer = call(lam, name)
    env = answer["env"]
    assert env["MINE"] == "yes" and env["AWS_ENDPOINT_URL"] == cove.url
    assert env["AWS_REGION"] == "us-east-1" and env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert env["AWS_ACCESS_KEY_ID"] != cove.credentials["access_key_id"]
    assert cove.credentials["secret_access_key"] not in json.dumps(env)
    assert not any(k.startswith("COVE_") for k in env)
    assert isinstance(answer["buckets"], list)  # its scoped key pair signs for cove


PROBE = """
import glob, os

def handler(event, context):
    home = event["home"]
    found = {}
    for path in [home, home + "/credentials.json", home + "/cove.db", home + "/objects"]:
        try:
            found[path] = open(path).read(64) if os.path.isfile(path) else os.listdir(path)
        except OSError as exc:
            found[path] = type(exc).__name__
    environs = []
    for path in glob.glob("/proc/*/environ"):
        try:
            environs.append(open(path, "rb").read().decode("latin-1"))
        except OSError:
            pass
    return {"found": found, "environs": environs}
"""


def test_sandbox_hides_coves_home_and_environment(lam: Any, make_function: Any,
                                                  cove: CoveServer) -> None:
    name = make_function(PROBE)
    _, answer = call(lam, name, {"home": str(cove.home)})
    secret = cove.credentials["secret_access_key"]
    assert secret not in json.dumps(answer)
    for path, what in answer["found"].items():
        assert what in ([], "FileNotFoundError"), (path, what)
    assert not any(f"COVE_HOME={cove.home}" in env for env in answer["environs"])


RENDEZVOUS = """
import time, uuid
import boto3
TOKEN = uuid.uuid4().hex

def handler(e, c):
    if not e:
        return [TOKEN, 0]
    s3 = boto3.client("s3")
    s3.put_object(Bucket=e["bucket"], Key=f"{e['run']}/{uuid.uuid4().hex}", Body=b"")
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:  # until every invocation has begun
        seen = s3.list_objects_v2(Bucket=e["bucket"], Prefix=e["run"] + "/")["KeyCount"]
        if seen >= e["n"]:
            return [TOKEN, seen]
        time.sleep(0.05)
    return [TOKEN, seen]
"""


def test_concurrent_invocations_run_in_parallel(cove: CoveServer, make_function: Any,
                                                bucket: str) -> None:
    """Four invocations meet: each one says it has begun, then waits until all four have.
    Run one after another, the first would wait alone until its deadline (no wall-clock
    assumption about how long a cold start takes)."""
    name = make_function(RENDEZVOUS, Timeout=180)
    lam = cove.client("lambda", read_timeout=200)  # an invocation may wait for cold starts
    call(lam, name)  # one warm worker; the others start cold
    results: list[tuple[str, int]] = []
    event = {"bucket": bucket, "run": "meet", "n": 4}

    def one() -> None:
        results.append(tuple(call(lam, name, event)[1]))  # type: ignore[arg-type]

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and len({token for token, _ in results}) == 4
    assert [seen for _, seen in results] == [4, 4, 4, 4]  # all four were running at once


def test_concurrency_limit_throttles(tmp_path: Any) -> None:
    server = CoveServer(tmp_path / "home", {"COVE_FUNCTION_CONCURRENCY": "1"}).start()
    try:
        lam = server.client("lambda")
        lam.create_function(FunctionName="slow", Runtime="python3.11", Role=ROLE,
                            Handler="f.handler", Timeout=10, Code={"ZipFile": zip_of(
                                {"f.py": "import time\ndef handler(e, c):\n"
                                         "    time.sleep(e.get('s', 0))\n    return 1\n"})})
        busy = threading.Thread(target=_until_admitted, args=(lam, {"s": 5}))
        busy.start()
        throttled = _first_throttle(lam, busy)  # once the busy call holds the only slot
        assert throttled["Error"]["Code"] == "TooManyRequestsException"
        assert throttled["ResponseMetadata"]["HTTPStatusCode"] == 429
        busy.join()
        assert call(lam, "slow")[1] == 1
    finally:
        server.stop()


def _until_admitted(lam: Any, event: dict[str, Any]) -> None:
    """The busy call: a probe may hold the only slot when it arrives, so it asks again until
    it runs (and then holds the slot for its whole sleep)."""
    while True:
        try:
            call(lam, "slow", event)
            return
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TooManyRequestsException":
                raise


def _first_throttle(lam: Any, busy: threading.Thread) -> dict[str, Any]:
    """Call until the concurrency limit refuses one (calls before the busy one takes its slot
    succeed at once); the busy call must still be running then."""
    while busy.is_alive():
        try:
            call(lam, "slow")
        except ClientError as exc:
            return exc.response  # type: ignore[no-any-return]
    raise AssertionError("the busy invocation ended before any call was throttled")


def test_functions_survive_a_restart(fresh_cove: CoveServer) -> None:
    lam = fresh_cove.client("lambda")
    lam.create_function(FunctionName="durable", Runtime="python3.11", Role=ROLE,
                        Handler="f.handler", Environment={"Variables": {"KEPT": "yes"}},
                        Code={"ZipFile": zip_of({"f.py": "import os\ndef handler(e, c):\n"
                                                         "    return os.environ['KEPT']\n"})})
    before = lam.get_function_configuration(FunctionName="durable")
    fresh_cove.restart()
    lam = fresh_cove.client("lambda")
    after = lam.get_function_configuration(FunctionName="durable")
    before.pop("ResponseMetadata")
    after.pop("ResponseMetadata")
    assert after == before
    assert call(lam, "durable")[1] == "yes"  # its key pair still signs
    lam.delete_function(FunctionName="durable")
    assert lam.list_functions()["Functions"] == []


def test_deleting_a_function_revokes_its_keys_and_code(lam: Any, make_function: Any,
                                                        cove: CoveServer) -> None:
    import boto3

    name = make_function("import os\ndef handler(e, c):\n"
                         "    return [os.environ['AWS_ACCESS_KEY_ID'],\n"
                         "            os.environ['AWS_SECRET_ACCESS_KEY'],\n"
                         "            os.environ['AWS_SESSION_TOKEN']]\n")
    key, secret, token = call(lam, name)[1]
    own = boto3.session.Session().client("lambda", endpoint_url=cove.url, region_name="us-east-1",
                                         aws_access_key_id=key, aws_secret_access_key=secret,
                                         aws_session_token=token)
    assert own.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
    sha = lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"]
    lam.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as revoked:
        own.list_functions()
    assert revoked.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    hexes = {p.stem for p in (cove.home / "functions" / "code").glob("*.zip")}
    assert base64.b64decode(sha).hex() not in hexes

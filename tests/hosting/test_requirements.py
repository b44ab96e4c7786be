"""requirements.txt beside inference code: installed into training's cached environments, the
workers run in them; a requirement that cannot be installed fails the endpoint, saying so."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.hosting.test_endpoints import SK_IMAGE, _tar, deploy
from tests.training.helpers import unique
from tests.training.test_job_lifecycle import _tiny_package

INFERENCE = b"""
import covetestpkg

def model_fn(model_dir):
    return covetestpkg.ANSWER

def transform_fn(model, body, content_type, accept):
    return f"answer={model} body={body}", "text/plain"
"""

SCRIPT_ENV = {"SAGEMAKER_PROGRAM": "inference.py",
              "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}


def _model(s3: Any, bucket: str, requirements: bytes, extra: dict[str, bytes]) -> str:
    key = f"models/{unique('req')}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=_tar({
        "code/inference.py": INFERENCE, "code/requirements.txt": requirements,
        **{f"code/{name}": data for name, data in extra.items()}}))
    return f"s3://{bucket}/{key}"


def _log(cove: Any, endpoint: str) -> str:
    logs = cove.client("logs")
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    lines = []
    for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"],
                                     startFromHead=True)["events"]
        lines += [f"{stream['logStreamName']}: {e['message']}" for e in events]
    return "\n".join(lines)


def test_requirements_in_model_code_are_installed_once(cove: Any, s3: Any, bucket: str,
                                                       tmp_path: Path) -> None:
    """code/requirements.txt in model.tar.gz naming a wheel that ships beside it (a path
    relative to the code directory, as pip reads it in the toolkit)."""
    sm, runtime = cove.client("sagemaker"), cove.client("sagemaker-runtime")
    wheel = _tiny_package(tmp_path)
    url = _model(s3, bucket, f"./{wheel.name}\n".encode(), {wheel.name: wheel.read_bytes()})
    first = deploy(sm, [("AllTraffic", url, 1.0, 1)], image=SK_IMAGE, environment=SCRIPT_ENV)
    reply = runtime.invoke_endpoint(EndpointName=first, ContentType="text/csv", Body=b"1,2")
    assert reply["Body"].read() == b"answer=42 body=1,2"
    assert "Installing requirements.txt" in _log(cove, first)
    second = deploy(sm, [("AllTraffic", url, 1.0, 1)], image=SK_IMAGE, environment=SCRIPT_ENV)
    reply = runtime.invoke_endpoint(EndpointName=second, ContentType="text/csv", Body=b"3")
    assert reply["Body"].read() == b"answer=42 body=3"
    log = _log(cove, second)
    assert "Using the cached environment" in log and "Installing" not in log
    for name in (first, second):
        sm.delete_endpoint(EndpointName=name)


def test_requirement_that_cannot_be_installed_fails_the_endpoint(cove: Any, s3: Any,
                                                                 bucket: str) -> None:
    sm = cove.client("sagemaker")
    url = _model(s3, bucket, b"./covemissing-1.0-py3-none-any.whl\n", {})
    name = deploy(sm, [("AllTraffic", url, 1.0, 1)], image=SK_IMAGE, environment=SCRIPT_ENV,
                  wait=False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        d = sm.describe_endpoint(EndpointName=name)
        if d["EndpointStatus"] != "Creating":
            break
        time.sleep(0.2)
    assert d["EndpointStatus"] == "Failed"
    reason = d["FailureReason"]
    assert "requirements.txt" in reason and "covemissing-1.0-py3-none-any.whl" in reason, reason
    assert "AllTraffic/requirements" in reason
    assert "covemissing" in _log(cove, name)
    sm.delete_endpoint(EndpointName=name)


def test_batch_transform_runs_the_model_in_its_requirements_environment(
        cove: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    """Transform jobs start the same workers as endpoints: the same requirements environment."""
    from tests.transform.helpers import create_model, job_request, read, wait

    sm = cove.client("sagemaker")
    wheel = _tiny_package(tmp_path)
    url = _model(s3, bucket, f"./{wheel.name}\n".encode(), {wheel.name: wheel.read_bytes()})
    model = create_model(sm, url, SK_IMAGE, SCRIPT_ENV)
    s3.put_object(Bucket=bucket, Key="req-in/a.csv", Body=b"1,2\n")
    name = unique("req-tr")
    sm.create_transform_job(**job_request(name, model, f"s3://{bucket}/req-in/",
                                          f"s3://{bucket}/req-out"))
    assert wait(sm, name)["TransformJobStatus"] == "Completed"
    assert read(s3, bucket, "req-out/a.csv.out").startswith(b"answer=42")

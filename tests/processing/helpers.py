"""Building processing jobs the way the SageMaker SDK does, for tests."""

from __future__ import annotations

import time
import uuid
from typing import Any

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/CoveExecutionRole"
LOG_GROUP = "/aws/sagemaker/ProcessingJobs"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def upload_script(s3: Any, bucket: str, text: str, name: str = "process.py") -> str:
    key = f"code/{uuid.uuid4().hex[:8]}/{name}"
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
    return f"s3://{bucket}/{key}"


def s3_input(name: str, uri: str, local: str, **extra: Any) -> dict[str, Any]:
    return {"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": local,
                                           "S3DataType": "S3Prefix", "S3InputMode": "File",
                                           **extra}}


def s3_output(name: str, uri: str, local: str) -> dict[str, Any]:
    return {"OutputName": name, "S3Output": {"S3Uri": uri, "LocalPath": local,
                                             "S3UploadMode": "EndOfJob"}}


def processing_job(name: str, code_uri: str, inputs: list[dict[str, Any]] | None = None,
                   outputs: list[dict[str, Any]] | None = None, count: int = 1,
                   arguments: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """What ScriptProcessor.run sends: the script as the ``code`` input, run with python3."""
    code = s3_input("code", code_uri, "/opt/ml/processing/input/code")
    app: dict[str, Any] = {"ImageUri": SKLEARN_IMAGE, "ContainerEntrypoint": [
        "python3", f"/opt/ml/processing/input/code/{code_uri.rsplit('/', 1)[-1]}"]}
    if arguments:
        app["ContainerArguments"] = arguments
    request: dict[str, Any] = {
        "ProcessingJobName": name,
        "ProcessingInputs": [*(inputs or []), code],
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": count,
                                                  "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 5}},
        "AppSpecification": app, "RoleArn": ROLE,
        "StoppingCondition": {"MaxRuntimeInSeconds": 600}, **extra}
    if outputs:
        request["ProcessingOutputConfig"] = {"Outputs": outputs}
    return request


def wait(sm: Any, name: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = sm.describe_processing_job(ProcessingJobName=name)
        if d["ProcessingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return d  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"{name} did not finish: {d['ProcessingJobStatus']}")


def wait_for(predicate: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def log_lines(logs: Any, name: str) -> list[str]:
    try:
        streams = logs.describe_log_streams(logGroupName=LOG_GROUP,
                                            logStreamNamePrefix=f"{name}/")["logStreams"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    lines = []
    for stream in streams:
        events = logs.get_log_events(logGroupName=LOG_GROUP,
                                     logStreamName=stream["logStreamName"],
                                     startFromHead=True)["events"]
        lines += [e["message"] for e in events]
    return lines


def objects(s3: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):].lstrip("/"): s3.get_object(Bucket=bucket, Key=o["Key"])[
        "Body"].read() for o in listing}

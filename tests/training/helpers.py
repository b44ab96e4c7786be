"""Building training jobs the way the SageMaker SDK does, for tests."""

from __future__ import annotations

import io
import tarfile
import textwrap
import time
import uuid
from typing import Any

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/CoveExecutionRole"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def tar_gz(files: dict[str, bytes]) -> bytes:
    """A .tar.gz holding ``files`` (name -> bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def upload_source(s3: Any, bucket: str, files: dict[str, str]) -> str:
    """A sourcedir.tar.gz with ``files``, uploaded; returns its s3 URI."""
    body = tar_gz({name: textwrap.dedent(text).encode() for name, text in files.items()})
    key = f"code/{uuid.uuid4().hex[:8]}/sourcedir.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def script_job(name: str, bucket: str, source_uri: str, entry: str = "train.py",
               hyperparameters: dict[str, str] | None = None, image: str = SKLEARN_IMAGE,
               channels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    hps = {"sagemaker_program": f'"{entry}"', "sagemaker_submit_directory": f'"{source_uri}"',
           **(hyperparameters or {})}
    inputs = [
        {"ChannelName": ch, "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}},
         "ContentType": "text/csv"} for ch, uri in (channels or {}).items()]
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File",
                                   **extra.pop("algorithm", {})},
        "RoleArn": ROLE,
        "HyperParameters": hps,
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        **extra,
    }
    if inputs:
        request["InputDataConfig"] = inputs
    return request


def wait(sm: Any, name: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = sm.describe_training_job(TrainingJobName=name)
        if d["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return d  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"{name} did not finish: {d['TrainingJobStatus']}/{d['SecondaryStatus']}")


def wait_for(predicate: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def log_lines(logs: Any, name: str) -> list[str]:
    try:
        streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                            logStreamNamePrefix=f"{name}/")["logStreams"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    lines = []
    for stream in streams:
        events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                     logStreamName=stream["logStreamName"],
                                     startFromHead=True)["events"]
        lines += [e["message"] for e in events]
    return lines

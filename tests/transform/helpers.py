"""Transform jobs the way boto3 users write them, and what tests check on their outputs."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from tests.hosting.test_endpoints import XGB_IMAGE, csv_rows, xgb_model
from tests.training.helpers import ROLE, unique

__all__ = ["ROLE", "XGB_IMAGE", "create_model", "csv_rows", "job_request", "read", "unique",
           "wait", "xgb_model"]


def create_model(sm: Any, url: str, image: str = XGB_IMAGE,
                 environment: dict[str, str] | None = None) -> str:
    name = unique("tm")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": image, "ModelDataUrl": url, "Environment": environment or {}})
    return name


def job_request(name: str, model: str, input_uri: str, output_uri: str,
                **extra: Any) -> dict[str, Any]:
    """A CreateTransformJob request: CSV lines in, MultiRecord, outputs assembled by line."""
    request: dict[str, Any] = {
        "TransformJobName": name, "ModelName": model,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                           "S3Uri": input_uri}},
                           "ContentType": "text/csv", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": output_uri, "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "BatchStrategy": "MultiRecord",
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(request.get(key), dict):
            request[key] = {**request[key], **value}
        else:
            request[key] = value
    return request


def wait(sm: Any, name: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = sm.describe_transform_job(TransformJobName=name)
        if d["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return d  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"{name} did not finish: {d['TransformJobStatus']}")


def read(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]


def floats(data: bytes) -> np.ndarray:
    return np.array([float(line) for line in data.decode().splitlines()])

"""Transform jobs the way boto3 users write them, models to run them with, and their outputs."""

from __future__ import annotations

import io
import textwrap
import time
from typing import Any

import numpy as np

from tests.hosting.test_endpoints import SK_IMAGE, XGB_IMAGE, csv_rows, xgb_model
from tests.training.helpers import ROLE, tar_gz, unique

__all__ = ["ROLE", "SK_IMAGE", "XGB_IMAGE", "create_model", "csv_rows", "floats", "job_request",
           "read", "sklearn_model", "tar_gz", "unique", "wait", "xgb_model"]

#: A scikit-learn script-mode model: CSV or JSON Lines rows in, one prediction per line out.
#: It fails on any row whose first feature is -1, and sleeps SECONDS_PER_REQUEST (from the
#: environment) per request, so tests can make it fail or slow.
SKLEARN_INFERENCE = """
import json, os, time
import joblib
import numpy as np

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

def input_fn(body, content_type):
    text = body.decode() if isinstance(body, bytes) else body
    lines = [line for line in text.splitlines() if line.strip()]
    if content_type == "text/csv":
        return np.array([[float(v) for v in line.split(",")] for line in lines])
    return np.array([json.loads(line) for line in lines], dtype=float)

def predict_fn(data, model):
    time.sleep(float(os.environ.get("SECONDS_PER_REQUEST", "0")))
    if (data[:, 0] == -1).any():
        raise ValueError("bad record marker (-1 in column 0)")
    return model.predict(data)

def output_fn(prediction, accept):
    if accept in ("application/json", "application/jsonlines"):
        return "".join(json.dumps({"score": round(float(p), 6)}) + "\\n" for p in prediction)
    return "".join(f"{round(float(p), 6)}\\n" for p in prediction), "text/csv"
"""


def sklearn_model(sm: Any, s3: Any, bucket: str,
                  environment: dict[str, str] | None = None) -> tuple[str, Any]:
    """A LinearRegression on 3 features (y = x0 + 2 x1 - x2) with SKLEARN_INFERENCE, created as
    a SageMaker model; returns (model name, the fitted estimator)."""
    import joblib
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 3))
    estimator = LinearRegression().fit(X, X @ np.array([1.0, 2.0, -1.0]))
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    key = f"models/{unique('sk')}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=tar_gz({
        "model.joblib": buffer.getvalue(),
        "code/inference.py": textwrap.dedent(SKLEARN_INFERENCE).encode()}))
    name = create_model(sm, f"s3://{bucket}/{key}", SK_IMAGE, {
        "SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        **(environment or {})})
    return name, estimator


def create_model(sm: Any, url: str, image: str = XGB_IMAGE,
                 environment: dict[str, str] | None = None) -> str:
    name = unique("tm")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": image, "ModelDataUrl": url, "Environment": environment or {}})
    return name


def job_request(name: str, model: str, input_uri: str, output_uri: str,
                **extra: Any) -> dict[str, Any]:
    """A CreateTransformJob request: CSV lines in, MultiRecord, outputs assembled by line;
    ``extra`` members replace the request's (dict members are merged one level deep)."""
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
    """One number per line -> float32, as the model computed them."""
    return np.array([float(line) for line in data.decode().splitlines()], dtype=np.float32)

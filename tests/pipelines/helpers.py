"""Pipeline definitions written as the SDKs write them, with small script-mode training jobs
whose behaviour (a metric, a pause) the test chooses."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.training.helpers import ROLE, SKLEARN_IMAGE, XGBOOST_IMAGE, upload_source

TRAIN = """
import os, sys, time
pause = float(os.environ.get("PAUSE", "0"))
time.sleep(pause)
print(f"rmse={os.environ.get('RMSE', '0.5')}", flush=True)
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("trained")
sys.exit(int(os.environ.get("EXIT", "0")))
"""


def training_step(name: str, bucket: str, source: str, rmse: str = "0.5", pause: float = 0,
                  **extra: Any) -> dict[str, Any]:
    """A Training step running TRAIN; it reports ``rmse`` as the metric ``validation:rmse``."""
    return {"Name": name, "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {
            "TrainingImage": SKLEARN_IMAGE, "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "validation:rmse", "Regex": "rmse=([0-9.]+)"}]},
        "HyperParameters": {"sagemaker_program": '"train.py"',
                            "sagemaker_submit_directory": json.dumps(source)},
        "Environment": {"RMSE": rmse, "PAUSE": str(pause)},
        "RoleArn": ROLE, "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/pipeline-out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600}}, **extra}


def model_step(name: str, train: str) -> dict[str, Any]:
    return {"Name": name, "Type": "Model", "Arguments": {
        "ExecutionRoleArn": ROLE, "PrimaryContainer": {
            "Image": XGBOOST_IMAGE,
            "ModelDataUrl": {"Get": f"Steps.{train}.ModelArtifacts.S3ModelArtifacts"}}}}


def source(s3: Any, bucket: str) -> str:
    return upload_source(s3, bucket, {"train.py": TRAIN})


def definition(steps: list[dict[str, Any]],
               parameters: list[dict[str, Any]] | None = None) -> str:
    return json.dumps({"Version": "2020-12-01", "Metadata": {},
                       "Parameters": parameters or [], "Steps": steps})


def create(sm: Any, name: str, steps: list[dict[str, Any]],
           parameters: list[dict[str, Any]] | None = None, **extra: Any) -> str:
    extra.setdefault("RoleArn", ROLE)
    return sm.create_pipeline(PipelineName=name,
                              PipelineDefinition=definition(steps, parameters),
                              **extra)["PipelineArn"]  # type: ignore[no-any-return]


def start(sm: Any, name: str, **extra: Any) -> str:
    return sm.start_pipeline_execution(PipelineName=name, ClientRequestToken=uuid.uuid4().hex,
                                       **extra)["PipelineExecutionArn"]  # type: ignore


def wait(sm: Any, arn: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if d["PipelineExecutionStatus"] in ("Succeeded", "Failed", "Stopped"):
            return d  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"{arn} did not finish: {steps(sm, arn)}")


def steps(sm: Any, arn: str) -> dict[str, dict[str, Any]]:
    listed = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn, MaxResults=100)
    return {s["StepName"]: s for s in listed["PipelineExecutionSteps"]}

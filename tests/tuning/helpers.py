"""Tuning jobs over a small script-mode training job whose loss the hyperparameters decide."""

from __future__ import annotations

import time
from typing import Any

from tests.training.helpers import ROLE, SKLEARN_IMAGE, upload_source

#: loss = (x - 3)^2 + 10/epoch (+5 when y is "b"), one line per epoch; --fail-on Y makes a
#: trial with y == Y crash.
TRAIN = """
import argparse, os, sys, time
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, default=0.0)
parser.add_argument("--y", default="a")
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--fail-on", default="")
args, _ = parser.parse_known_args()
if args.fail_on and args.y == args.fail_on:
    sys.exit(f"asked to fail for y={args.y}")
for epoch in range(1, args.epochs + 1):
    loss = (args.x - 3) ** 2 + 10.0 / epoch + (5.0 if args.y == "b" else 0.0)
    print(f"epoch {epoch} loss: {loss:.6f}", flush=True)
    time.sleep(args.sleep)
open(os.path.join(os.environ["SM_MODEL_DIR"], "x.txt"), "w").write(str(args.x))
"""

LOSS = [{"Name": "loss", "Regex": r"loss: ([0-9.eE+-]+)"}]


def source(s3: Any, bucket: str) -> str:
    return upload_source(s3, bucket, {"train.py": TRAIN})


def definition(bucket: str, source_uri: str, static: dict[str, str] | None = None
               ) -> dict[str, Any]:
    return {
        "StaticHyperParameters": {"sagemaker_program": '"train.py"',
                                  "sagemaker_submit_directory": f'"{source_uri}"',
                                  **(static or {})},
        "AlgorithmSpecification": {"TrainingImage": SKLEARN_IMAGE, "TrainingInputMode": "File",
                                   "MetricDefinitions": LOSS},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/tuning"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def config(strategy: str = "Random", max_jobs: int | None = 4, parallel: int = 2,
           ranges: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    limits: dict[str, Any] = {"MaxParallelTrainingJobs": parallel}
    if max_jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = max_jobs
    return {
        "Strategy": strategy,
        "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
        "ResourceLimits": limits,
        "ParameterRanges": ranges or {
            "ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "6",
                                           "ScalingType": "Linear"}],
            "CategoricalParameterRanges": [{"Name": "y", "Values": ["a", "b"]}]},
        **extra,
    }


def wait_tuning(sm: Any, name: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if d["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
            return d  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"{name} did not finish: {d['HyperParameterTuningJobStatus']} "
                         f"{d['TrainingJobStatusCounters']}")


def training_jobs(sm: Any, name: str) -> list[dict[str, Any]]:
    """Every training job of the tuning job, oldest first, through the paginator."""
    pages = sm.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
        HyperParameterTuningJobName=name, SortBy="CreationTime", SortOrder="Ascending",
        PaginationConfig={"PageSize": 3})
    return [s for page in pages for s in page["TrainingJobSummaries"]]

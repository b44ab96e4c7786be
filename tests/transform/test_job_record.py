"""The transform job record: its lifecycle refuses moves it does not allow, and the stored
layout (DescribeTransformJob's members, as earlier versions kept them) reads back unchanged."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from cove import errors
from cove.sagemaker import JobStatus
from cove.transform import TransformJob, describe_transform_job, transform_job_summary
from cove.transform._job import dump, load

CONFIG = {"ModelName": "m", "TransformInput": {"DataSource": {"S3DataSource": {
    "S3DataType": "S3Prefix", "S3Uri": "s3://b/in/"}}, "SplitType": "Line"},
    "TransformOutput": {"S3OutputPath": "s3://b/out/"},
    "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}


def _job() -> TransformJob:
    return TransformJob("t", "arn:t", JobStatus.IN_PROGRESS, 1.0, 1.0, MappingProxyType(CONFIG))


def test_a_transform_job_moves_only_along_its_lifecycle() -> None:
    job = _job().began(2.0).stopping()
    assert job.status is JobStatus.STOPPING
    stopped = job.finished(JobStatus.STOPPED, 3.0)
    assert (stopped.started, stopped.ended) == (2.0, 3.0)
    with pytest.raises(errors.ValidationError, match="transform job is in status Stopped"):
        stopped.stopping()
    with pytest.raises(errors.ValidationError):
        stopped.finished(JobStatus.COMPLETED, 4.0)


def test_the_stored_transform_layout_round_trips() -> None:
    job = _job().finished(JobStatus.FAILED, 5.0, "ClientError: " + "x" * 2000)
    assert len(job.failure_reason) == 1024
    assert load(dump(job)) == job
    d = describe_transform_job(job)
    assert "LastModifiedTime" not in d  # DescribeTransformJob has none
    assert d["TransformJobStatus"] == "Failed" and d["ModelName"] == "m"
    assert transform_job_summary(job)["LastModifiedTime"] == job.modified
    legacy = {k: v for k, v in dump(job).items() if k != "LastModifiedTime"}
    assert load(legacy).status is JobStatus.FAILED  # written before records: no stamp

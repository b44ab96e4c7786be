"""The transform-job operations of the SageMaker API: they call the transform service (its
rules are in ``_requests``) and render its records, the only place DescribeTransformJob's
document is made."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cove.sagemaker import Tags, paginate
from cove.transform._job import TransformJob
from cove.transform._jobs import TransformJobs
from cove.wire import Call


class TransformApi:
    def __init__(self, jobs: TransformJobs, tags: Tags) -> None:
        self.jobs, self.tags = jobs, tags
        tags.register(jobs.exists_arn)

    def operations(self) -> dict[str, Callable[[dict[str, Any], Call], Any]]:
        return {"CreateTransformJob": self.create, "DescribeTransformJob": self.describe,
                "ListTransformJobs": self.list, "StopTransformJob": self.stop}

    def create(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        job = self.jobs.create(params, call.region, call.principal.account_id)
        if params.get("Tags"):
            self.tags.set(job.arn, params["Tags"])
        return {"TransformJobArn": job.arn}

    # --- the other operations ---------------------------------------------------------------

    def describe(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return describe_transform_job(self.jobs.get(params["TransformJobName"]))

    def list(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        page = paginate(self.jobs.summaries(params), params, default_max=10)
        return page.response("TransformJobSummaries", [transform_job_summary(j)
                                                       for j in page.items])

    def stop(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.jobs.stop(params["TransformJobName"])
        return {}


def describe_transform_job(job: TransformJob) -> dict[str, Any]:
    """DescribeTransformJob's document."""
    d: dict[str, Any] = {
        **job.config, "TransformJobName": job.name, "TransformJobArn": job.arn,
        "TransformJobStatus": job.status.value, "CreationTime": job.created}
    optional = {"TransformStartTime": job.started, "TransformEndTime": job.ended,
                "FailureReason": job.failure_reason}
    d.update({k: v for k, v in optional.items() if v})
    return d


def transform_job_summary(job: TransformJob) -> dict[str, Any]:
    """A TransformJobSummary."""
    d = describe_transform_job(job)
    keys = ("TransformJobName", "TransformJobArn", "CreationTime", "TransformEndTime",
            "TransformJobStatus", "FailureReason")
    return {**{k: d[k] for k in keys if k in d}, "LastModifiedTime": job.modified}

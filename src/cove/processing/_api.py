"""The processing-job operations of the SageMaker API: CreateProcessingJob,
DescribeProcessingJob, ListProcessingJobs, StopProcessingJob (tags through AddTags/ListTags/
DeleteTags on the job's ARN).  They call the processing service and render its records: the
only place DescribeProcessingJob's document is made."""

from __future__ import annotations

from typing import Any

from cove.processing._jobs import ProcessingJobs
from cove.processing._records import ProcessingJob, dump
from cove.sagemaker import Tags, matches_filters, paginate
from cove.wire import Call


class ProcessingApi:
    def __init__(self, jobs: ProcessingJobs, tags: Tags) -> None:
        self.jobs, self.tags = jobs, tags
        tags.register(jobs.exists_arn)

    def operations(self) -> dict[str, Any]:
        return {"CreateProcessingJob": self.create, "DescribeProcessingJob": self.describe,
                "ListProcessingJobs": self.list, "StopProcessingJob": self.stop}

    def create(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        job = self.jobs.create(params, call.region, call.principal.account_id)
        if params.get("Tags"):
            self.tags.set(job.arn, params["Tags"])
        return {"ProcessingJobArn": job.arn}

    def describe(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return describe_processing_job(self.jobs.get(params["ProcessingJobName"]))

    def stop(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.jobs.stop(params["ProcessingJobName"])
        return {}

    def list(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        jobs = [d for d in map(describe_processing_job, self.jobs.all())
                if matches_filters(d, params, "ProcessingJobName", "ProcessingJobStatus")]
        key = {"Name": "ProcessingJobName", "Status": "ProcessingJobStatus"}.get(
            params.get("SortBy", "CreationTime"), "CreationTime")
        jobs.sort(key=lambda d: (d[key], d["ProcessingJobName"]),
                  reverse=params.get("SortOrder", "Ascending") == "Descending")
        page = paginate(jobs, params, default_max=10)
        return page.response("ProcessingJobSummaries", [_summary(d) for d in page.items])


def describe_processing_job(job: ProcessingJob) -> dict[str, Any]:
    """DescribeProcessingJob's document for ``job``: what is stored (jobs kept the Describe
    document as their stored layout when they became records, so one function writes both)."""
    return dump(job)


def _summary(d: dict[str, Any]) -> dict[str, Any]:
    keys = ("ProcessingJobName", "ProcessingJobArn", "CreationTime", "ProcessingEndTime",
            "LastModifiedTime", "ProcessingJobStatus", "FailureReason", "ExitMessage")
    return {k: d[k] for k in keys if k in d}

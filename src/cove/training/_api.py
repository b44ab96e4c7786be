"""The training-job operations of the SageMaker API: they read the request, call the training
service, and render its records as DescribeTrainingJob / ListTrainingJobs documents (the only
place those documents are made)."""

from __future__ import annotations

from typing import Any

from cove.sagemaker import Tags, matches_filters, paginate
from cove.training._jobs import TrainingJobs
from cove.training._records import TrainingJob, Transition
from cove.wire import Call


class TrainingApi:
    def __init__(self, jobs: TrainingJobs, tags: Tags) -> None:
        self.jobs, self.tags = jobs, tags
        tags.register(jobs.exists_arn)

    def operations(self) -> dict[str, Any]:
        return {"CreateTrainingJob": self.create, "DescribeTrainingJob": self.describe,
                "ListTrainingJobs": self.list, "StopTrainingJob": self.stop}

    def create(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        job = self.jobs.create(params, call.region, call.principal.account_id)
        if params.get("Tags"):
            self.tags.set(job.arn, params["Tags"])
        return {"TrainingJobArn": job.arn}

    def describe(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return describe_training_job(self.jobs.get(params["TrainingJobName"]))

    def stop(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.jobs.stop(params["TrainingJobName"])
        return {}

    def list(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        jobs = [d for d in map(describe_training_job, self.jobs.all())
                if matches_filters(d, params, "TrainingJobName", "TrainingJobStatus")]
        key = {"Name": "TrainingJobName", "Status": "TrainingJobStatus"}.get(
            params.get("SortBy", "CreationTime"), "CreationTime")
        jobs.sort(key=lambda d: d[key], reverse=params.get("SortOrder", "Ascending")
                  == "Descending")
        page = paginate(jobs, params, default_max=10)
        return page.response("TrainingJobSummaries", [_summary(d) for d in page.items])


def describe_training_job(job: TrainingJob) -> dict[str, Any]:
    """DescribeTrainingJob's document for ``job``."""
    d: dict[str, Any] = {
        **job.config, "TrainingJobName": job.name, "TrainingJobArn": job.arn,
        "TrainingJobStatus": job.status.value, "SecondaryStatus": job.secondary_status.value,
        "SecondaryStatusTransitions": [_transition(t) for t in job.transitions],
        "CreationTime": job.created, "LastModifiedTime": job.modified}
    if job.tuning_job_arn:
        d["TuningJobArn"] = job.tuning_job_arn
    if job.started is not None:
        d["TrainingStartTime"] = job.started
    if job.failure_reason:
        d["FailureReason"] = job.failure_reason
    if job.model_artifacts:
        d["ModelArtifacts"] = {"S3ModelArtifacts": job.model_artifacts}
    if job.status.is_finished():
        d["FinalMetricDataList"] = [
            {"MetricName": m.name, "Value": m.value, "Timestamp": m.timestamp}
            for m in job.final_metrics]
    if job.ended is not None and job.training_seconds is not None:
        d["TrainingEndTime"] = job.ended
        d["TrainingTimeInSeconds"] = job.training_seconds
        d["BillableTimeInSeconds"] = job.training_seconds * job.instance_count
    return d


def _transition(t: Transition) -> dict[str, Any]:
    d: dict[str, Any] = {"Status": t.status.value, "StartTime": t.start,
                         "StatusMessage": t.message}
    if t.end is not None:
        d["EndTime"] = t.end
    return d


def _summary(d: dict[str, Any]) -> dict[str, Any]:
    keys = ("TrainingJobName", "TrainingJobArn", "CreationTime", "TrainingEndTime",
            "LastModifiedTime", "TrainingJobStatus", "SecondaryStatus")
    return {k: d[k] for k in keys if k in d}

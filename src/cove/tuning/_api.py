"""The hyperparameter-tuning operations of the SageMaker API: each reads the request and
calls the tuning service (whose rules are in ``_requests.py``); Describe documents are rendered
from the records by :func:`describe_tuning_job`."""

from __future__ import annotations

from typing import Any

from cove.sagemaker import Tags, matches_filters, paginate
from cove.tuning._jobs import TuningJobs
from cove.tuning._records import TuningJob
from cove.tuning._rows import dump
from cove.wire import Call


class TuningApi:
    def __init__(self, jobs: TuningJobs, tags: Tags) -> None:
        self.jobs, self.tags = jobs, tags
        tags.register(jobs.exists_arn)

    def operations(self) -> dict[str, Any]:
        return {"CreateHyperParameterTuningJob": self.create,
                "DescribeHyperParameterTuningJob": self.describe,
                "ListHyperParameterTuningJobs": self.list,
                "ListTrainingJobsForHyperParameterTuningJob": self.list_training_jobs,
                "StopHyperParameterTuningJob": self.stop}

    def create(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        job = self.jobs.create(params, call.region, call.principal.account_id)
        if params.get("Tags"):
            self.tags.set(job.arn, params["Tags"])
        return {"HyperParameterTuningJobArn": job.arn}

    # --- reads ------------------------------------------------------------------------------

    def describe(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return describe_tuning_job(self.jobs.get(params["HyperParameterTuningJobName"]))

    def stop(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.jobs.stop(params["HyperParameterTuningJobName"])
        return {}

    def list(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        jobs = [d for d in map(describe_tuning_job, self.jobs.all()) if matches_filters(
            d, params, "HyperParameterTuningJobName", "HyperParameterTuningJobStatus")]
        key = {"Name": "HyperParameterTuningJobName",
               "Status": "HyperParameterTuningJobStatus"}.get(
            params.get("SortBy", "CreationTime"), "CreationTime")
        jobs.sort(key=lambda d: d[key], reverse=params.get("SortOrder", "Descending")
                  == "Descending")
        page = paginate(jobs, params, default_max=10)
        return page.response("HyperParameterTuningJobSummaries",
                             [_tuning_summary(d) for d in page.items])

    def list_training_jobs(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        summaries = self.jobs.summaries(self.jobs.get(params["HyperParameterTuningJobName"]))
        if params.get("StatusEquals"):
            summaries = [s for s in summaries if s["TrainingJobStatus"] == params["StatusEquals"]]
        sort_by = params.get("SortBy", "Name")
        descending = params.get("SortOrder", "Descending") == "Descending"
        if sort_by == "FinalObjectiveMetricValue":
            # As SageMaker: jobs without an objective value are left out of this ordering.
            summaries = [s for s in summaries
                         if "FinalHyperParameterTuningJobObjectiveMetric" in s]
            summaries.sort(key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"][
                "Value"], reverse=descending)
        else:
            key = {"Name": "TrainingJobName", "CreationTime": "CreationTime",
                   "Status": "TrainingJobStatus"}[sort_by]
            summaries.sort(key=lambda s: s[key], reverse=descending)
        page = paginate(summaries, params, default_max=10)
        return page.response("TrainingJobSummaries")


def describe_tuning_job(job: TuningJob) -> dict[str, Any]:
    """DescribeHyperParameterTuningJob's document: the stored one (one writer, ``_rows``)."""
    return dump(job)


def _tuning_summary(d: dict[str, Any]) -> dict[str, Any]:
    config = d["HyperParameterTuningJobConfig"]
    result: dict[str, Any] = {k: d[k] for k in (
        "HyperParameterTuningJobName", "HyperParameterTuningJobArn",
        "HyperParameterTuningJobStatus", "CreationTime", "HyperParameterTuningEndTime",
        "LastModifiedTime", "TrainingJobStatusCounters", "ObjectiveStatusCounters") if k in d}
    result["Strategy"] = config["Strategy"]
    result["ResourceLimits"] = config["ResourceLimits"]
    return result

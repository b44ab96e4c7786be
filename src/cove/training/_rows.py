"""Training jobs as stored: the ``describe`` column of ``training_jobs`` keeps the layout
earlier versions wrote (DescribeTrainingJob's members), so existing databases read unchanged.
This module is the only one that knows that layout."""

from __future__ import annotations

from typing import Any

from cove.sagemaker import JobStatus
from cove.training._records import (
    FinalMetric,
    SecondaryStatus,
    TrainingJob,
    Transition,
    frozen,
)

#: Members of the stored document that are the record's own fields, not the request's.
_STATE = frozenset({
    "TrainingJobName", "TrainingJobArn", "TrainingJobStatus", "SecondaryStatus",
    "SecondaryStatusTransitions", "CreationTime", "LastModifiedTime", "TrainingStartTime",
    "TrainingEndTime", "FailureReason", "ModelArtifacts", "FinalMetricDataList", "TuningJobArn",
    "TrainingTimeInSeconds", "BillableTimeInSeconds"})


def load(doc: dict[str, Any]) -> TrainingJob:
    return TrainingJob(
        name=doc["TrainingJobName"], arn=doc["TrainingJobArn"],
        status=JobStatus(doc["TrainingJobStatus"]),
        transitions=tuple(Transition(SecondaryStatus(t["Status"]), t["StartTime"],
                                     t.get("StatusMessage", ""), t.get("EndTime"))
                          for t in doc.get("SecondaryStatusTransitions", [])),
        created=doc["CreationTime"], modified=doc.get("LastModifiedTime", doc["CreationTime"]),
        config=frozen({k: v for k, v in doc.items() if k not in _STATE}),
        started=doc.get("TrainingStartTime"), ended=doc.get("TrainingEndTime"),
        failure_reason=doc.get("FailureReason", ""),
        model_artifacts=doc.get("ModelArtifacts", {}).get("S3ModelArtifacts", ""),
        final_metrics=tuple(FinalMetric(m["MetricName"], m["Value"], m["Timestamp"])
                            for m in doc.get("FinalMetricDataList", [])),
        tuning_job_arn=doc.get("TuningJobArn", ""))


def dump(job: TrainingJob) -> dict[str, Any]:
    doc: dict[str, Any] = {
        **job.config, "TrainingJobName": job.name, "TrainingJobArn": job.arn,
        "TrainingJobStatus": job.status.value, "SecondaryStatus": job.secondary_status.value,
        "SecondaryStatusTransitions": [_transition(t) for t in job.transitions],
        "CreationTime": job.created, "LastModifiedTime": job.modified}
    optional = {"TrainingStartTime": job.started, "TrainingEndTime": job.ended,
                "FailureReason": job.failure_reason, "TuningJobArn": job.tuning_job_arn}
    doc.update({k: v for k, v in optional.items() if v})
    if job.model_artifacts:
        doc["ModelArtifacts"] = {"S3ModelArtifacts": job.model_artifacts}
    if job.final_metrics or job.status.is_finished():
        doc["FinalMetricDataList"] = [
            {"MetricName": m.name, "Value": m.value, "Timestamp": m.timestamp}
            for m in job.final_metrics]
    return doc


def _transition(t: Transition) -> dict[str, Any]:
    doc: dict[str, Any] = {"Status": t.status.value, "StartTime": t.start,
                           "StatusMessage": t.message}
    if t.end is not None:
        doc["EndTime"] = t.end
    return doc

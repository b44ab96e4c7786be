"""Tuning jobs as stored: the ``describe`` column of ``tuning_jobs`` keeps the layout earlier
versions wrote (DescribeHyperParameterTuningJob's document), so existing databases read
unchanged.  :func:`dump` is the one writer of that document: the row and the API's Describe
get the same one."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from cove.sagemaker import JobStatus
from cove.tuning._records import TuningJob


def _frozen(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return MappingProxyType(dict(value)) if value else None


def load(doc: dict[str, Any]) -> TuningJob:
    consumed = doc.get("ConsumedResources", {}).get("RuntimeInSeconds")
    return TuningJob(
        name=doc["HyperParameterTuningJobName"], arn=doc["HyperParameterTuningJobArn"],
        status=JobStatus(doc["HyperParameterTuningJobStatus"]),
        created=doc["CreationTime"], modified=doc.get("LastModifiedTime", doc["CreationTime"]),
        config=MappingProxyType(dict(doc["HyperParameterTuningJobConfig"])),
        definition=MappingProxyType(dict(doc["TrainingJobDefinition"])),
        training_counters=MappingProxyType(dict(doc["TrainingJobStatusCounters"])),
        objective_counters=MappingProxyType(dict(doc["ObjectiveStatusCounters"])),
        ended=doc.get("HyperParameterTuningEndTime"),
        failure_reason=doc.get("FailureReason", ""),
        best=_frozen(doc.get("BestTrainingJob")),
        overall_best=_frozen(doc.get("OverallBestTrainingJob")),
        runtime_seconds=int(consumed) if consumed is not None else None,
        autotune=_frozen(doc.get("Autotune")), warm_start=_frozen(doc.get("WarmStartConfig")))


def dump(job: TuningJob) -> dict[str, Any]:
    """DescribeHyperParameterTuningJob's document (and the stored one)."""
    doc: dict[str, Any] = {
        "HyperParameterTuningJobName": job.name, "HyperParameterTuningJobArn": job.arn,
        "HyperParameterTuningJobConfig": _plain(job.config),
        "TrainingJobDefinition": _plain(job.definition),
        "HyperParameterTuningJobStatus": job.status.value,
        "CreationTime": job.created, "LastModifiedTime": job.modified,
        "TrainingJobStatusCounters": dict(job.training_counters),
        "ObjectiveStatusCounters": dict(job.objective_counters)}
    optional: dict[str, Any] = {
        "Autotune": job.autotune, "WarmStartConfig": job.warm_start,
        "BestTrainingJob": job.best, "OverallBestTrainingJob": job.overall_best,
        "HyperParameterTuningEndTime": job.ended, "FailureReason": job.failure_reason}
    doc.update({k: _plain(v) if isinstance(v, Mapping) else v
                for k, v in optional.items() if v})
    if job.runtime_seconds is not None:
        doc["ConsumedResources"] = {"RuntimeInSeconds": job.runtime_seconds}
    return doc


def _plain(value: Any) -> Any:
    """A JSON-ready copy (the record's mappings are read-only views)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value

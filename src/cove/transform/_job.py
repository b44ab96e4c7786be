"""A transform job as a frozen record, stored in the layout earlier versions wrote.

``config`` is what CreateTransformJob asked for (validated, defaults filled in: ModelName,
TransformInput, TransformOutput, DataProcessing, batching); the record's own fields are its
lifecycle (:class:`JobStatus`) and times.  DescribeTransformJob's document is rendered from it
in ``_api.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from cove.sagemaker import JobStatus

KIND = "transform job"


@dataclass(frozen=True)
class TransformJob:
    name: str
    arn: str
    status: JobStatus
    created: float
    modified: float
    config: Mapping[str, Any]
    started: float | None = None
    ended: float | None = None
    failure_reason: str = ""

    @property
    def status_value(self) -> str:
        return self.status.value

    @property
    def model_name(self) -> str:
        return str(self.config["ModelName"])

    @property
    def instance_type(self) -> str:
        return str(self.config["TransformResources"]["InstanceType"])

    @property
    def instance_count(self) -> int:
        return int(self.config["TransformResources"]["InstanceCount"])

    @property
    def source(self) -> dict[str, Any]:
        """TransformInput.DataSource.S3DataSource."""
        return dict(self.config["TransformInput"]["DataSource"]["S3DataSource"])

    def request(self) -> dict[str, Any]:
        """The request's members, as the batch plan reads them."""
        return dict(self.config)

    def touched(self, now: float) -> TransformJob:
        return replace(self, modified=now)

    def began(self, now: float) -> TransformJob:
        return replace(self, started=now)

    def stopping(self) -> TransformJob:
        return replace(self, status=self.status.check(JobStatus.STOPPING, KIND))

    def finished(self, status: JobStatus, now: float, reason: str = "") -> TransformJob:
        return replace(self, status=self.status.check(status, KIND), ended=now,
                       started=self.started or now,
                       failure_reason=reason[:1024] or self.failure_reason)


_STATE = frozenset({"TransformJobName", "TransformJobArn", "TransformJobStatus", "CreationTime",
                    "LastModifiedTime", "TransformStartTime", "TransformEndTime",
                    "FailureReason"})


def load(doc: dict[str, Any]) -> TransformJob:
    """A job from its stored document (earlier versions kept no LastModifiedTime in it: the
    row's column has it, and :meth:`TransformJobs.summaries` reads that)."""
    return TransformJob(
        doc["TransformJobName"], doc["TransformJobArn"], JobStatus(doc["TransformJobStatus"]),
        doc["CreationTime"], doc.get("LastModifiedTime", doc["CreationTime"]),
        MappingProxyType({k: v for k, v in doc.items() if k not in _STATE}),
        doc.get("TransformStartTime"), doc.get("TransformEndTime"),
        doc.get("FailureReason", ""))


def dump(job: TransformJob) -> dict[str, Any]:
    doc: dict[str, Any] = {
        **job.config, "TransformJobName": job.name, "TransformJobArn": job.arn,
        "TransformJobStatus": job.status.value, "CreationTime": job.created,
        "LastModifiedTime": job.modified}
    optional = {"TransformStartTime": job.started, "TransformEndTime": job.ended,
                "FailureReason": job.failure_reason}
    doc.update({k: v for k, v in optional.items() if v})
    return doc

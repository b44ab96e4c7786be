"""A processing job as a frozen record, stored in the layout earlier versions wrote.

``config`` is what CreateProcessingJob asked for (validated, defaults filled in); the record's
own fields are its lifecycle (:class:`JobStatus`) and times.  Every change goes through
:meth:`ProcessingJob.finished` or :meth:`ProcessingJob.moved`, which refuse a move the
lifecycle does not allow.  DescribeProcessingJob's document is rendered in ``_api.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from cove.sagemaker import JobStatus

KIND = "processing job"
GIB = 1 << 30


@dataclass(frozen=True)
class ProcessingJob:
    name: str
    arn: str
    status: JobStatus
    created: float
    modified: float
    #: The request's members DescribeProcessingJob echoes, validated, defaults filled in.
    config: Mapping[str, Any]
    started: float | None = None
    ended: float | None = None
    failure_reason: str = ""
    exit_message: str = ""

    @property
    def status_value(self) -> str:
        return self.status.value

    @property
    def cluster(self) -> Mapping[str, Any]:
        return self.config["ProcessingResources"]["ClusterConfig"]  # type: ignore[no-any-return]

    @property
    def instance_type(self) -> str:
        return str(self.cluster["InstanceType"])

    @property
    def host_count(self) -> int:
        return int(self.cluster["InstanceCount"])

    @property
    def volume_bytes(self) -> int:
        return int(self.cluster["VolumeSizeInGB"]) * GIB

    @property
    def max_runtime(self) -> float | None:
        return float(self.config["StoppingCondition"]["MaxRuntimeInSeconds"])

    @property
    def role_arn(self) -> str:
        return str(self.config.get("RoleArn", ""))

    @property
    def app(self) -> Mapping[str, Any]:
        return self.config["AppSpecification"]  # type: ignore[no-any-return]

    @property
    def image(self) -> str:
        return str(self.app["ImageUri"])

    @property
    def command(self) -> tuple[str, ...]:
        return (*self.app.get("ContainerEntrypoint", []), *self.app.get("ContainerArguments", []))

    @property
    def inputs(self) -> tuple[dict[str, Any], ...]:
        return tuple(dict(i) for i in self.config.get("ProcessingInputs", []))

    @property
    def outputs(self) -> tuple[dict[str, Any], ...]:
        return tuple(dict(o) for o in self.config.get("ProcessingOutputConfig", {}).get(
            "Outputs", []))

    @property
    def environment(self) -> dict[str, str]:
        return dict(self.config.get("Environment", {}))

    @property
    def waiting(self) -> bool:
        return self.status is JobStatus.IN_PROGRESS and self.started is None

    def touched(self, now: float) -> ProcessingJob:
        return replace(self, modified=now)

    def began(self, now: float) -> ProcessingJob:
        return self if self.started is not None else replace(self, started=now)

    def moved(self, status: JobStatus) -> ProcessingJob:
        return replace(self, status=self.status.check(status, KIND))

    def finished(self, status: JobStatus, now: float, failure: str = "",
                 exit_message: str = "") -> ProcessingJob:
        return replace(self.moved(status), ended=now, started=self.started or now,
                       failure_reason=failure[:1024] or self.failure_reason,
                       exit_message=exit_message or self.exit_message)


_STATE = frozenset({"ProcessingJobName", "ProcessingJobArn", "ProcessingJobStatus",
                    "CreationTime", "LastModifiedTime", "ProcessingStartTime",
                    "ProcessingEndTime", "FailureReason", "ExitMessage"})


def load(doc: dict[str, Any]) -> ProcessingJob:
    """A job from its stored document."""
    return ProcessingJob(
        name=doc["ProcessingJobName"], arn=doc["ProcessingJobArn"],
        status=JobStatus(doc["ProcessingJobStatus"]), created=doc["CreationTime"],
        modified=doc.get("LastModifiedTime", doc["CreationTime"]),
        config=MappingProxyType({k: v for k, v in doc.items() if k not in _STATE}),
        started=doc.get("ProcessingStartTime"), ended=doc.get("ProcessingEndTime"),
        failure_reason=doc.get("FailureReason", ""), exit_message=doc.get("ExitMessage", ""))


def dump(job: ProcessingJob) -> dict[str, Any]:
    """The stored document of a job."""
    doc: dict[str, Any] = {
        **job.config, "ProcessingJobName": job.name, "ProcessingJobArn": job.arn,
        "ProcessingJobStatus": job.status.value, "CreationTime": job.created,
        "LastModifiedTime": job.modified}
    optional = {"ProcessingStartTime": job.started, "ProcessingEndTime": job.ended,
                "FailureReason": job.failure_reason, "ExitMessage": job.exit_message}
    doc.update({k: v for k, v in optional.items() if v})
    return doc

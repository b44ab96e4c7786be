"""How each step type runs: job steps start a SageMaker job and are polled until it ends;
the others (models, registration, conditions, Fail, Lambda) finish where they start.

Every step talks to the rest of cove through the SageMaker API's own operations (``Api``), so
a step runs exactly what the same request from a client would run, validation and
authorization included (as the execution's role, ``_acting.py``).

A step's effects survive a crash that comes before the engine records the step: a job, a model
is named after the execution, step and attempt, so the attempt run again finds it; a
registered version carries a ClientToken made of the same three, so CreateModelPackage answers
the version it made the first time.  A Lambda step's function may run twice (see README).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cove import errors
from cove.lifecycles import JobStatus
from cove.pipelines._records import StepStatus

#: ``(operation, request) -> response``: the SageMaker API, called from inside cove.
Api = Callable[[str, dict[str, Any]], dict[str, Any]]
#: ``(function name or ARN, event) -> (answer, failed)``: a cove function, invoked.
InvokeFunction = Callable[[str, bytes], tuple[bytes, bool]]


@dataclass(frozen=True)
class Outcome:
    status: StepStatus
    properties: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    failure: str = ""
    #: The retry-policy exception type a failure counts as (``SageMaker.JOB_INTERNAL_ERROR``),
    #: or ``interrupted`` when cove's own restart ended the job: that is always run again.
    retry_as: str = ""


@dataclass(frozen=True)
class JobKind:
    create: str
    describe: str
    stop: str
    prefix: str  # TrainingJob -> TrainingJobName, TrainingJobStatus, TrainingJobArn
    metadata_key: str
    name_limit: int


JOBS = {
    "Training": JobKind("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob",
                        "TrainingJob", "TrainingJob", 63),
    "Processing": JobKind("CreateProcessingJob", "DescribeProcessingJob", "StopProcessingJob",
                          "ProcessingJob", "ProcessingJob", 63),
    "Transform": JobKind("CreateTransformJob", "DescribeTransformJob", "StopTransformJob",
                         "TransformJob", "TransformJob", 63),
    "Tuning": JobKind("CreateHyperParameterTuningJob", "DescribeHyperParameterTuningJob",
                      "StopHyperParameterTuningJob", "HyperParameterTuningJob", "TuningJob", 32),
}

#: The step's status for each status of its job (Describe's ``<Prefix>Status``).
_JOB_STATUS = {JobStatus.IN_PROGRESS.value: StepStatus.EXECUTING,
               JobStatus.STOPPING.value: StepStatus.STOPPING,
               JobStatus.COMPLETED.value: StepStatus.SUCCEEDED,
               JobStatus.FAILED.value: StepStatus.FAILED,
               JobStatus.STOPPED.value: StepStatus.STOPPED}


def client_token(execution_id: str, step: str, attempt: int) -> str:
    """The idempotency token of one attempt of one step of one execution."""
    digest = hashlib.sha256(f"{execution_id}/{step}/{attempt}".encode()).hexdigest()
    return digest[:36]  # ClientToken: [a-zA-Z0-9-]{1,36}


def job_name(kind: str, execution_id: str, step: str, attempt: int) -> str:
    """A job's name, the same every time for one attempt of one step of one execution, so
    after a restart the engine finds the job it had started instead of starting another."""
    limit = JOBS[kind].name_limit if kind in JOBS else 63
    digest = hashlib.sha256(f"{execution_id}/{step}/{attempt}".encode()).hexdigest()[:6]
    clean = re.sub(r"[^a-z0-9-]", "-", step.lower()).strip("-") or "step"
    head = f"pipelines-{execution_id}-" if limit > 32 else f"p{execution_id}-"
    room = limit - len(head) - len(digest) - 1
    return f"{head}{clean[:room].rstrip('-')}-{digest}"


class JobSteps:
    def __init__(self, api: Api) -> None:
        self.api = api

    def start(self, kind: str, arguments: dict[str, Any], name: str) -> None:
        job = JOBS[kind]
        try:
            self.api(job.describe, {f"{job.prefix}Name": name})
            return  # started before a restart: attach to it
        except errors.ClientError:
            pass
        self.api(job.create, {**arguments, f"{job.prefix}Name": name})

    def poll(self, kind: str, name: str) -> Outcome:
        job = JOBS[kind]
        describe = self.api(job.describe, {f"{job.prefix}Name": name})
        status = _JOB_STATUS.get(describe[f"{job.prefix}Status"], StepStatus.EXECUTING)
        metadata = {job.metadata_key: {"Arn": describe[f"{job.prefix}Arn"]}}
        if kind == "Tuning" and status is StepStatus.SUCCEEDED:
            describe["TrainingJobSummaries"] = self._trials_best_first(describe)
        failure = str(describe.get("FailureReason", ""))
        return Outcome(status, describe, metadata, failure, _retry_kind(failure))

    def _trials_best_first(self, describe: dict[str, Any]) -> list[dict[str, Any]]:
        """A tuning step's ``TrainingJobSummaries``: best objective first (``[0]`` is the top
        model the SDK's ``get_top_model_s3_uri`` points at)."""
        objective = describe["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
        order = "Ascending" if objective["Type"] == "Minimize" else "Descending"
        summaries: list[dict[str, Any]] = self.api(
            "ListTrainingJobsForHyperParameterTuningJob",
            {"HyperParameterTuningJobName": describe["HyperParameterTuningJobName"],
             "SortBy": "FinalObjectiveMetricValue", "SortOrder": order, "MaxResults": 100}
        )["TrainingJobSummaries"]
        return summaries

    def stop(self, kind: str, name: str) -> None:
        job = JOBS[kind]
        with contextlib.suppress(errors.ClientError):  # it ended on its own meanwhile
            self.api(job.stop, {f"{job.prefix}Name": name})


def _retry_kind(failure: str) -> str:
    if "cove was restarted" in failure:
        return "interrupted"
    if failure.startswith("InternalServerError"):
        return "SageMaker.JOB_INTERNAL_ERROR"
    if "CapacityError" in failure:
        return "SageMaker.CAPACITY_ERROR"
    return ""


class InstantSteps:
    """Steps that finish as they run: their whole effect is one call."""

    def __init__(self, api: Api, invoke: InvokeFunction) -> None:
        self.api, self.invoke = api, invoke

    def model(self, arguments: dict[str, Any], name: str) -> Outcome:
        try:
            describe = self.api("DescribeModel", {"ModelName": name})  # made before a restart
        except errors.ClientError:
            self.api("CreateModel", {**arguments, "ModelName": name})
            describe = self.api("DescribeModel", {"ModelName": name})
        return Outcome(StepStatus.SUCCEEDED, describe, {"Model": {"Arn": describe["ModelArn"]}})

    def register(self, arguments: dict[str, Any], token: str) -> Outcome:
        """As in SageMaker, a RegisterModel step creates its group if there is none yet.
        ``token`` makes the create idempotent (a definition's own ClientToken wins)."""
        group = arguments.get("ModelPackageGroupName")
        if group and not str(group).startswith("arn:"):
            try:
                self.api("DescribeModelPackageGroup", {"ModelPackageGroupName": group})
            except errors.ClientError:
                with contextlib.suppress(errors.ClientError):  # created meanwhile
                    self.api("CreateModelPackageGroup", {"ModelPackageGroupName": group})
        package = self.api("CreateModelPackage", {"ClientToken": token, **arguments})[
            "ModelPackageArn"]
        describe = self.api("DescribeModelPackage", {"ModelPackageName": package})
        return Outcome(StepStatus.SUCCEEDED, describe, {"RegisterModel": {"Arn": package}})

    def lambda_(self, function_arn: str, arguments: Any,
                outputs: list[dict[str, Any]]) -> Outcome:
        answer, failed = self.invoke(function_arn, json.dumps(arguments).encode())
        if failed:
            return Outcome(StepStatus.FAILED, failure=f"The Lambda function {function_arn} "
                           f"failed: {answer.decode('utf-8', 'replace')[:900]}")
        try:
            result = json.loads(answer or b"{}")
        except ValueError:
            result = None
        if not isinstance(result, dict):
            return Outcome(StepStatus.FAILED, failure=f"The Lambda function {function_arn} "
                           "must return a JSON object for the step's OutputParameters.")
        values = [{"Name": o["OutputName"], "Value": _output(result.get(o["OutputName"]))}
                  for o in outputs if o.get("OutputName") in result]
        return Outcome(StepStatus.SUCCEEDED,
                       {"OutputParameters": {v["Name"]: v["Value"] for v in values}},
                       {"Lambda": {"Arn": function_arn, "OutputParameters": values}})


def _output(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)

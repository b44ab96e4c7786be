"""The training-job operations of the SageMaker API."""

from __future__ import annotations

import time
from typing import Any

from cove import errors
from cove.sagemaker import Tags, arn, matches_filters, paginate, parse_s3_uri
from cove.training import _metrics as metrics
from cove.training._data import DataPlane
from cove.training._jobs import TrainingJobs
from cove.training._runtimes import resolve_runtime
from cove.wire import Call

MAX_INSTANCES = 8
ECHOED = ("AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig",
          "ResourceConfig", "StoppingCondition", "VpcConfig", "DebugHookConfig",
          "DebugRuleConfigurations", "ProfilerConfig", "ProfilerRuleConfigurations",
          "TensorBoardOutputConfig", "CheckpointConfig", "Environment", "RetryStrategy",
          "ExperimentConfig", "EnableNetworkIsolation",
          "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining")


class TrainingApi:
    def __init__(self, jobs: TrainingJobs, data: DataPlane, tags: Tags) -> None:
        self.jobs, self.data, self.tags = jobs, data, tags
        tags.register(jobs.exists_arn)

    def operations(self) -> dict[str, Any]:
        return {"CreateTrainingJob": self.create, "DescribeTrainingJob": self.describe,
                "ListTrainingJobs": self.list, "StopTrainingJob": self.stop}

    def create(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        describe = self.build(params, call.region, call.principal.account_id)
        self.jobs.insert(describe)
        if params.get("Tags"):
            self.tags.set(describe["TrainingJobArn"], params["Tags"])
        return {"TrainingJobArn": describe["TrainingJobArn"]}

    def build(self, params: dict[str, Any], region: str, account: str,
              tuning_job_arn: str = "") -> dict[str, Any]:
        """Validate a CreateTrainingJob request and turn it into the job's Describe document."""
        _require(params, "trainingJobDefinition." if tuning_job_arn else "")
        name = params["TrainingJobName"]
        spec = dict(params["AlgorithmSpecification"])
        hyperparameters = dict(params.get("HyperParameters", {}))
        runtime = self._check_algorithm(spec, hyperparameters)
        self._check_resources(params)
        self._check_data(params, hyperparameters, runtime.script_mode, spec)
        if not spec.get("MetricDefinitions") and not runtime.script_mode:
            spec["MetricDefinitions"] = _builtin_metrics(runtime.kind)
        now = time.time()
        describe: dict[str, Any] = {k: params[k] for k in ECHOED if k in params}
        describe.update({
            "TrainingJobName": name,
            "TrainingJobArn": arn(region, account, "training-job", name),
            "AlgorithmSpecification": spec, "HyperParameters": hyperparameters,
            "OutputDataConfig": {"KmsKeyId": "", "CompressionType": "GZIP",
                                 **params["OutputDataConfig"]},
            "TrainingJobStatus": "InProgress", "SecondaryStatus": "Starting",
            "SecondaryStatusTransitions": [{"Status": "Starting", "StartTime": now,
                                            "StatusMessage": "Launching requested ML instances"}],
            "CreationTime": now, "LastModifiedTime": now,
            "EnableNetworkIsolation": bool(params.get("EnableNetworkIsolation", False)),
            "EnableInterContainerTrafficEncryption": False,
            "EnableManagedSpotTraining": bool(params.get("EnableManagedSpotTraining", False)),
        })
        if tuning_job_arn:
            describe["TuningJobArn"] = tuning_job_arn
        return describe

    def _check_algorithm(self, spec: dict[str, Any], hyperparameters: dict[str, str]) -> Any:
        if not spec.get("TrainingImage"):
            raise errors.ValidationError(
                "AlgorithmSpecification.TrainingImage is required: cove runs images, not "
                "marketplace AlgorithmName resources.")
        runtime = resolve_runtime(spec["TrainingImage"], hyperparameters)
        problem = metrics.check_definitions(spec.get("MetricDefinitions", []))
        if problem:
            raise errors.ValidationError(problem)
        return runtime

    def _check_resources(self, params: dict[str, Any]) -> None:
        count = params["ResourceConfig"].get("InstanceCount", 1)
        if count > MAX_INSTANCES:
            raise errors.ResourceLimitExceeded(
                f"cove runs at most {MAX_INSTANCES} hosts for one training job; "
                f"InstanceCount was {count}.")
        if "MaxRuntimeInSeconds" not in params.get("StoppingCondition", {}):
            params.setdefault("StoppingCondition", {})["MaxRuntimeInSeconds"] = 86400

    def _check_data(self, params: dict[str, Any], hyperparameters: dict[str, str],
                    script_mode: bool, spec: dict[str, Any]) -> None:
        names = [c["ChannelName"] for c in params.get("InputDataConfig", [])]
        if len(names) != len(set(names)):
            raise errors.ValidationError("Channel names must be unique in InputDataConfig.")
        for channel in params.get("InputDataConfig", []):
            source = channel["DataSource"].get("S3DataSource")
            if source is None:
                raise errors.ValidationError(
                    f"Channel {channel['ChannelName']!r}: cove reads channels from S3 only "
                    "(DataSource.S3DataSource).")
            if self.data.count_objects(source["S3Uri"]) == 0:
                raise errors.ValidationError(
                    f"No S3 objects found under S3 URL \"{source['S3Uri']}\" given in input "
                    f"data source of channel {channel['ChannelName']!r}. Upload the data "
                    "first, or check the bucket and prefix.")
        self._require_bucket(params["OutputDataConfig"]["S3OutputPath"], "S3OutputPath")
        if script_mode and not spec.get("ContainerEntrypoint"):
            self._check_script(hyperparameters)

    def _check_script(self, hyperparameters: dict[str, str]) -> None:
        from cove.training._contract import decode_hyperparameters

        decoded = decode_hyperparameters(hyperparameters)
        if not decoded.get("sagemaker_program"):
            raise errors.ValidationError(
                "A script-mode job needs the hyperparameter sagemaker_program (the entry point "
                "file) — the SageMaker SDK sets it from entry_point.")
        source = str(decoded.get("sagemaker_submit_directory", ""))
        if source and self.data.count_objects(source) == 0:
            raise errors.ValidationError(f"sagemaker_submit_directory {source!r} does not "
                                         "exist: upload the source archive first.")

    def _require_bucket(self, uri: str, what: str) -> None:
        bucket, _ = parse_s3_uri(uri, what)
        try:
            self.data.count_objects(f"s3://{bucket}/")
        except errors.NoSuchBucket as exc:
            raise errors.ValidationError(f"{what} {uri!r}: the bucket {bucket!r} does not "
                                         "exist.") from exc

    def describe(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        return self.jobs.describe(params["TrainingJobName"])

    def stop(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.jobs.stop(params["TrainingJobName"])
        return {}

    def list(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        jobs = [d for d in self.jobs.all()
                if matches_filters(d, params, "TrainingJobName", "TrainingJobStatus")]
        key = {"Name": "TrainingJobName", "Status": "TrainingJobStatus"}.get(
            params.get("SortBy", "CreationTime"), "CreationTime")
        jobs.sort(key=lambda d: d[key], reverse=params.get("SortOrder", "Ascending")
                  == "Descending")
        page = paginate(jobs, params, default_max=10)
        return page.response("TrainingJobSummaries", [_summary(d) for d in page.items])


def _summary(d: dict[str, Any]) -> dict[str, Any]:
    keys = ("TrainingJobName", "TrainingJobArn", "CreationTime", "TrainingEndTime",
            "LastModifiedTime", "TrainingJobStatus", "SecondaryStatus")
    return {k: d[k] for k in keys if k in d}


def _builtin_metrics(kind: str) -> list[dict[str, str]]:
    from cove.algorithms import BUILTIN_ALGORITHMS

    algorithm = BUILTIN_ALGORITHMS.get(kind)
    return list(algorithm.metric_definitions) if algorithm else []


#: Members a training job cannot run without, whatever the installed botocore marks required
#: (1.4x no longer marks these two); the edge's validator pins them for CreateTrainingJob.
REQUIRED = ("AlgorithmSpecification", "ResourceConfig")


def _require(params: dict[str, Any], path: str) -> None:
    """AWS's null-member error for each of :data:`REQUIRED` that ``params`` lacks (a tuning
    job's definition reaches :meth:`TrainingApi.build` without the edge's validator)."""
    missing = [name for name in REQUIRED if not params.get(name)]
    if missing:
        problems = [f"Value null at '{path}{name[0].lower()}{name[1:]}' failed to satisfy "
                    "constraint: Member must not be null" for name in missing]
        noun = "error" if len(problems) == 1 else "errors"
        raise errors.ValidationError(f"{len(problems)} validation {noun} detected: "
                                     + "; ".join(problems))

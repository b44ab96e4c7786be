"""CreateTrainingJob's rules: what cove needs of a request to run it, and the new job's record.

The edge has checked the request against botocore's shapes; these are the checks the model
cannot make (the data exists, the image is one cove runs, the script is named).  Tuning jobs'
trials come through here too, straight from the tuning service.
"""

from __future__ import annotations

import time
from typing import Any

from cove import errors
from cove.sagemaker import JobStatus, arn, parse_s3_uri
from cove.training import _metrics as metrics
from cove.training._contract import decode_hyperparameters
from cove.training._data import DataPlane
from cove.training._records import SecondaryStatus, TrainingJob, Transition, frozen
from cove.training._runtimes import Runtime, resolve_runtime

MAX_INSTANCES = 8
#: The request's members a job keeps and DescribeTrainingJob echoes.
ECHOED = ("AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig",
          "ResourceConfig", "StoppingCondition", "VpcConfig", "DebugHookConfig",
          "DebugRuleConfigurations", "ProfilerConfig", "ProfilerRuleConfigurations",
          "TensorBoardOutputConfig", "CheckpointConfig", "Environment", "RetryStrategy",
          "ExperimentConfig", "EnableNetworkIsolation",
          "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining")
#: Members a training job cannot run without, whatever the installed botocore marks required
#: (1.4x no longer marks these two); the edge's validator pins them for CreateTrainingJob.
REQUIRED = ("AlgorithmSpecification", "ResourceConfig")


def new_job(params: dict[str, Any], region: str, account: str, data: DataPlane,
            tuning_job_arn: str = "") -> TrainingJob:
    """Validate a CreateTrainingJob request and make the queued job's record."""
    _require(params, "trainingJobDefinition." if tuning_job_arn else "")
    name = params["TrainingJobName"]
    spec = dict(params["AlgorithmSpecification"])
    hyperparameters = dict(params.get("HyperParameters", {}))
    runtime = _check_algorithm(spec, hyperparameters)
    stopping = _check_resources(params)
    _check_data(params, hyperparameters, runtime.script_mode, spec, data)
    if not spec.get("MetricDefinitions") and not runtime.script_mode:
        spec["MetricDefinitions"] = _builtin_metrics(runtime.kind)
    now = time.time()
    config: dict[str, Any] = {k: params[k] for k in ECHOED if k in params}
    config.update({
        "AlgorithmSpecification": spec, "HyperParameters": hyperparameters,
        "StoppingCondition": stopping,
        "OutputDataConfig": {"KmsKeyId": "", "CompressionType": "GZIP",
                             **params["OutputDataConfig"]},
        "EnableNetworkIsolation": bool(params.get("EnableNetworkIsolation", False)),
        "EnableInterContainerTrafficEncryption": False,
        "EnableManagedSpotTraining": bool(params.get("EnableManagedSpotTraining", False)),
    })
    return TrainingJob(
        name=name, arn=arn(region, account, "training-job", name),
        status=JobStatus.IN_PROGRESS,
        transitions=(Transition(SecondaryStatus.STARTING, now,
                                "Launching requested ML instances"),),
        created=now, modified=now, config=frozen(config), tuning_job_arn=tuning_job_arn)


def _check_algorithm(spec: dict[str, Any], hyperparameters: dict[str, str]) -> Runtime:
    if not spec.get("TrainingImage"):
        raise errors.ValidationError(
            "AlgorithmSpecification.TrainingImage is required: cove runs images, not "
            "marketplace AlgorithmName resources.")
    runtime = resolve_runtime(spec["TrainingImage"], hyperparameters)
    problem = metrics.check_definitions(spec.get("MetricDefinitions", []))
    if problem:
        raise errors.ValidationError(problem)
    return runtime


def _check_resources(params: dict[str, Any]) -> dict[str, Any]:
    """The job's StoppingCondition, with SageMaker's default MaxRuntimeInSeconds (one day)."""
    count = params["ResourceConfig"].get("InstanceCount", 1)
    if count > MAX_INSTANCES:
        raise errors.ResourceLimitExceeded(
            f"cove runs at most {MAX_INSTANCES} hosts for one training job; "
            f"InstanceCount was {count}.")
    return {"MaxRuntimeInSeconds": 86400, **params.get("StoppingCondition", {})}


def _check_data(params: dict[str, Any], hyperparameters: dict[str, str], script_mode: bool,
                spec: dict[str, Any], data: DataPlane) -> None:
    names = [c["ChannelName"] for c in params.get("InputDataConfig", [])]
    if len(names) != len(set(names)):
        raise errors.ValidationError("Channel names must be unique in InputDataConfig.")
    for channel in params.get("InputDataConfig", []):
        source = channel["DataSource"].get("S3DataSource")
        if source is None:
            raise errors.ValidationError(
                f"Channel {channel['ChannelName']!r}: cove reads channels from S3 only "
                "(DataSource.S3DataSource).")
        if data.count_objects(source["S3Uri"]) == 0:
            raise errors.ValidationError(
                f"No S3 objects found under S3 URL \"{source['S3Uri']}\" given in input "
                f"data source of channel {channel['ChannelName']!r}. Upload the data "
                "first, or check the bucket and prefix.")
    _require_bucket(params["OutputDataConfig"]["S3OutputPath"], "S3OutputPath", data)
    if script_mode and not spec.get("ContainerEntrypoint"):
        _check_script(hyperparameters, data)


def _check_script(hyperparameters: dict[str, str], data: DataPlane) -> None:
    decoded = decode_hyperparameters(hyperparameters)
    if not decoded.get("sagemaker_program"):
        raise errors.ValidationError(
            "A script-mode job needs the hyperparameter sagemaker_program (the entry point "
            "file) — the SageMaker SDK sets it from entry_point.")
    source = str(decoded.get("sagemaker_submit_directory", ""))
    if source and data.count_objects(source) == 0:
        raise errors.ValidationError(f"sagemaker_submit_directory {source!r} does not "
                                     "exist: upload the source archive first.")


def _require_bucket(uri: str, what: str, data: DataPlane) -> None:
    bucket, _ = parse_s3_uri(uri, what)
    try:
        data.count_objects(f"s3://{bucket}/")
    except errors.NoSuchBucket as exc:
        raise errors.ValidationError(f"{what} {uri!r}: the bucket {bucket!r} does not "
                                     "exist.") from exc


def _builtin_metrics(kind: str) -> list[dict[str, str]]:
    from cove.algorithms import BUILTIN_ALGORITHMS

    algorithm = BUILTIN_ALGORITHMS.get(kind)
    return list(algorithm.metric_definitions) if algorithm else []


def _require(params: dict[str, Any], path: str) -> None:
    """AWS's null-member error for each of :data:`REQUIRED` that ``params`` lacks (a tuning
    job's definition reaches :func:`new_job` without the edge's validator)."""
    missing = [name for name in REQUIRED if not params.get(name)]
    if missing:
        problems = [f"Value null at '{path}{name[0].lower()}{name[1:]}' failed to satisfy "
                    "constraint: Member must not be null" for name in missing]
        noun = "error" if len(problems) == 1 else "errors"
        raise errors.ValidationError(f"{len(problems)} validation {noun} detected: "
                                     + "; ".join(problems))

"""CreateHyperParameterTuningJob's rules: what cove needs of a request to run the search, and
the new job's record.

The edge has checked the request against botocore's shapes; these are the checks the model
cannot make: the ranges make a search space, the limits fit the strategy, a first trial's
training job would be accepted (with CreateTrainingJob's own message) and emits the objective,
and warm-start parents exist, have finished and optimized the same objective.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from cove import errors
from cove.sagemaker import JobStatus, arn
from cove.training import TrainingJob, TrainingJobs
from cove.tuning._autotune import apply_autotune
from cove.tuning._records import TuningJob
from cove.tuning._search import hyperband_resources
from cove.tuning._space import SearchSpace

#: The SDK reads (and deletes) this static hyperparameter on attach; SageMaker adds it.
OBJECTIVE_KEY = "_tuning_objective_metric"
MAX_PARENTS = 5
#: Keys of a TrainingJobDefinition that describe the tuning, not the training job.
DEFINITION_ONLY = ("DefinitionName", "TuningObjective", "HyperParameterRanges",
                   "StaticHyperParameters", "HyperParameterTuningResourceConfig")


def new_job(params: dict[str, Any], region: str, account: str, training: TrainingJobs,
            parent: Callable[[str], TuningJob]) -> TuningJob:
    """Validate a CreateHyperParameterTuningJob request and make the job's record
    (InProgress); ``parent(name)`` reads a warm-start parent."""
    name = params["HyperParameterTuningJobName"]
    tuning_arn = arn(region, account, "hyper-parameter-tuning-job", name)
    config = copy.deepcopy(params["HyperParameterTuningJobConfig"])
    apply_autotune(params, config, params.get("TrainingJobDefinition") or {})
    definition = _definition(params, config)
    space = _check_config(config, definition)
    _check_training(definition, config, space, training, region, account, tuning_arn)
    if params.get("WarmStartConfig"):
        _check_warm_start(params["WarmStartConfig"], config, definition, parent)
    now = time.time()
    return TuningJob(
        name=name, arn=tuning_arn, status=JobStatus.IN_PROGRESS, created=now, modified=now,
        config=MappingProxyType(config), definition=MappingProxyType(definition),
        autotune=_frozen(params.get("Autotune")),
        warm_start=_frozen(params.get("WarmStartConfig")))


def training_request(definition: Mapping[str, Any], job_name: str,
                     hyperparameters: dict[str, str]) -> dict[str, Any]:
    """The CreateTrainingJob request of one trial."""
    request = {k: copy.deepcopy(v) for k, v in definition.items() if k not in DEFINITION_ONLY}
    request["TrainingJobName"] = job_name
    request["HyperParameters"] = {**definition.get("StaticHyperParameters", {}),
                                  **hyperparameters}
    request.setdefault("ResourceConfig", resource_config(definition))
    return request


def resource_config(definition: Mapping[str, Any]) -> dict[str, Any]:
    config = definition.get("HyperParameterTuningResourceConfig", {})
    return {"InstanceType": config.get("InstanceType", "ml.m5.large"),
            "InstanceCount": int(config.get("InstanceCount", 1)),
            "VolumeSizeInGB": int(config.get("VolumeSizeInGB", 30))}


def _frozen(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return MappingProxyType(copy.deepcopy(dict(value))) if value else None


def _definition(params: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    if params.get("TrainingJobDefinitions"):
        raise errors.ValidationError(
            "cove tunes one training job definition per tuning job: pass "
            "TrainingJobDefinition, not TrainingJobDefinitions.")
    if not params.get("TrainingJobDefinition"):
        raise errors.ValidationError("TrainingJobDefinition is required.")
    definition: dict[str, Any] = copy.deepcopy(params["TrainingJobDefinition"])
    # Ranges and objective may sit in the definition (the multi-definition form).
    if "ParameterRanges" not in config and definition.get("HyperParameterRanges"):
        config["ParameterRanges"] = definition["HyperParameterRanges"]
    if "HyperParameterTuningJobObjective" not in config and definition.get(
            "TuningObjective"):
        config["HyperParameterTuningJobObjective"] = definition["TuningObjective"]
    _require_definition(config, definition)
    # The SDK sends HyperParameterTuningResourceConfig but reads ResourceConfig back on
    # attach: describe both.
    definition.setdefault("ResourceConfig", resource_config(definition))
    static = dict(definition.get("StaticHyperParameters", {}))
    static[OBJECTIVE_KEY] = config["HyperParameterTuningJobObjective"]["MetricName"]
    definition["StaticHyperParameters"] = static
    return definition


def _require_definition(config: dict[str, Any], definition: dict[str, Any]) -> None:
    if "HyperParameterTuningJobObjective" not in config:
        raise errors.ValidationError(
            "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective (Type and "
            "MetricName) is required: cove needs to know what to optimize.")
    if "ParameterRanges" not in config:
        raise errors.ValidationError(
            "HyperParameterTuningJobConfig.ParameterRanges is required.")
    if "ResourceConfig" not in definition and \
            "HyperParameterTuningResourceConfig" not in definition:
        raise errors.ValidationError(
            "TrainingJobDefinition needs ResourceConfig (or "
            "HyperParameterTuningResourceConfig).")


def _check_config(config: dict[str, Any], definition: dict[str, Any]) -> SearchSpace:
    space = SearchSpace.from_ranges(config["ParameterRanges"])
    clash = sorted(set(space.names) & set(definition["StaticHyperParameters"]))
    if clash:
        raise errors.ValidationError(
            f"{', '.join(clash)} cannot be both tuned (ParameterRanges) and static "
            "(StaticHyperParameters); remove it from one of them.")
    config.setdefault("TrainingJobEarlyStoppingType", "Off")
    _check_limits(config, space)
    if config["Strategy"] == "Hyperband":
        if config["TrainingJobEarlyStoppingType"] == "Auto":
            raise errors.ValidationError(
                "Hyperband stops poor training jobs itself; set TrainingJobEarlyStoppingType "
                "to Off with the Hyperband strategy.")
        try:
            hyperband_resources(config, definition["StaticHyperParameters"])
        except ValueError as exc:
            raise errors.ValidationError(str(exc)) from exc
    elif config.get("StrategyConfig", {}).get("HyperbandStrategyConfig"):
        raise errors.ValidationError(
            "StrategyConfig.HyperbandStrategyConfig applies to the Hyperband strategy only.")
    return space


def _check_limits(config: dict[str, Any], space: SearchSpace) -> None:
    limits, strategy = config["ResourceLimits"], config["Strategy"]
    if strategy == "Grid":
        space.grid()  # raises for ranges a grid cannot enumerate
    elif "MaxNumberOfTrainingJobs" not in limits:
        raise errors.ValidationError(
            f"ResourceLimits.MaxNumberOfTrainingJobs is required for the {strategy} "
            "strategy (only Grid derives the number of jobs from its ranges).")
    maximum = limits.get("MaxNumberOfTrainingJobs")
    if maximum is not None and limits["MaxParallelTrainingJobs"] > maximum:
        raise errors.ValidationError(
            f"ResourceLimits.MaxParallelTrainingJobs ({limits['MaxParallelTrainingJobs']}) "
            f"cannot exceed MaxNumberOfTrainingJobs ({maximum}).")


def _check_training(definition: dict[str, Any], config: dict[str, Any], space: SearchSpace,
                    training: TrainingJobs, region: str, account: str,
                    tuning_arn: str) -> None:
    """Build a first trial's training job (not started) so a bad definition fails now, with
    CreateTrainingJob's own message, and check the objective is a metric it emits."""
    definition.setdefault("AlgorithmSpecification", {})
    request = training_request(definition, "probe", {
        p.name: p.hyperparameter(_some_value(p)) for p in space.parameters})
    probe: TrainingJob = training.check(request, region, account, tuning_arn)
    metric = config["HyperParameterTuningJobObjective"]["MetricName"]
    # As for training jobs, a built-in algorithm's metric definitions are described (the
    # SDK's attach reads them).
    definitions = probe.metric_definitions
    definition["AlgorithmSpecification"]["MetricDefinitions"] = definitions
    names = [m["Name"] for m in definitions]
    if metric not in names:
        raise errors.ValidationError(
            f"The objective metric {metric!r} is not one the training jobs emit. "
            + (f"The algorithm's metrics are: {', '.join(sorted(names))}." if names else
               "Define it in AlgorithmSpecification.MetricDefinitions (a Name and a Regex "
               "that captures its value from the job's log)."))


def _check_warm_start(warm: dict[str, Any], config: dict[str, Any],
                      definition: dict[str, Any], parent: Callable[[str], TuningJob]) -> None:
    parents = warm["ParentHyperParameterTuningJobs"]
    if not 1 <= len(parents) <= MAX_PARENTS:
        raise errors.ValidationError(
            f"WarmStartConfig takes 1 to {MAX_PARENTS} parent tuning jobs.")
    for entry in parents:
        pname = entry["HyperParameterTuningJobName"]
        try:
            job = parent(pname)
        except errors.ResourceNotFound as exc:
            raise errors.ValidationError(
                f"WarmStartConfig: the parent tuning job {pname!r} does not exist.") from exc
        _check_parent(job, warm["WarmStartType"], config, definition)


def _check_parent(job: TuningJob, kind: str, config: dict[str, Any],
                  definition: dict[str, Any]) -> None:
    if not job.status.is_finished():
        raise errors.ValidationError(
            f"WarmStartConfig: the parent tuning job {job.name!r} is {job.status.value}; a "
            "parent must have finished.")
    objective, theirs = config["HyperParameterTuningJobObjective"], job.objective
    if theirs != objective:
        raise errors.ValidationError(
            f"WarmStartConfig: the parent {job.name!r} optimized {theirs['Type']} "
            f"{theirs['MetricName']!r}; this job optimizes {objective['Type']} "
            f"{objective['MetricName']!r}. Warm start needs the same objective.")
    if kind == "IdenticalDataAndAlgorithm" and job.image != definition[
            "AlgorithmSpecification"].get("TrainingImage"):
        raise errors.ValidationError(
            f"WarmStartConfig IdenticalDataAndAlgorithm: the parent {job.name!r} used "
            f"the image {job.image!r}; use TransferLearning to change the algorithm.")


def _some_value(p: Any) -> Any:
    d = p.distribution
    return d.choices[0] if hasattr(d, "choices") else d.low

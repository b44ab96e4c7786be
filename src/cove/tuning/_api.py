"""The hyperparameter-tuning operations of the SageMaker API."""

from __future__ import annotations

import copy
import time
from typing import Any

from cove import errors
from cove.sagemaker import JobStatus, Tags, arn, matches_filters, paginate
from cove.tuning._autotune import apply_autotune
from cove.tuning._jobs import DEFINITION_ONLY, TuningJobs, resource_config
from cove.tuning._search import hyperband_resources
from cove.tuning._space import SearchSpace
from cove.wire import Call

#: The SDK reads (and deletes) this static hyperparameter on attach; SageMaker adds it.
OBJECTIVE_KEY = "_tuning_objective_metric"
MAX_PARENTS = 5


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
        name = params["HyperParameterTuningJobName"]
        tuning_arn = arn(call.region, call.principal.account_id, "hyper-parameter-tuning-job",
                         name)
        config = copy.deepcopy(params["HyperParameterTuningJobConfig"])
        apply_autotune(params, config, params.get("TrainingJobDefinition") or {})
        definition = self._definition(params, config)
        space = self._check_config(config, definition)
        self._check_training(definition, config, space, call, tuning_arn)
        now = time.time()
        describe: dict[str, Any] = {
            "HyperParameterTuningJobName": name,
            "HyperParameterTuningJobArn": tuning_arn,
            "HyperParameterTuningJobConfig": config,
            "TrainingJobDefinition": definition,
            "HyperParameterTuningJobStatus": JobStatus.IN_PROGRESS.value,
            "CreationTime": now, "LastModifiedTime": now,
            "TrainingJobStatusCounters": {"Completed": 0, "InProgress": 0, "RetryableError": 0,
                                          "NonRetryableError": 0, "Stopped": 0},
            "ObjectiveStatusCounters": {"Succeeded": 0, "Pending": 0, "Failed": 0},
        }
        if params.get("Autotune"):
            describe["Autotune"] = params["Autotune"]
        if params.get("WarmStartConfig"):
            self._check_warm_start(params["WarmStartConfig"], config, definition)
            describe["WarmStartConfig"] = params["WarmStartConfig"]
        self.jobs.insert(describe)
        if params.get("Tags"):
            self.tags.set(tuning_arn, params["Tags"])
        return {"HyperParameterTuningJobArn": tuning_arn}

    # --- validation -------------------------------------------------------------------------

    def _definition(self, params: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
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
        # The SDK sends HyperParameterTuningResourceConfig but reads ResourceConfig back on
        # attach: describe both.
        definition.setdefault("ResourceConfig", resource_config(definition))
        static = dict(definition.get("StaticHyperParameters", {}))
        static[OBJECTIVE_KEY] = config["HyperParameterTuningJobObjective"]["MetricName"]
        definition["StaticHyperParameters"] = static
        return definition

    def _check_config(self, config: dict[str, Any], definition: dict[str, Any]) -> SearchSpace:
        space = SearchSpace.from_ranges(config["ParameterRanges"])
        clash = sorted(set(space.names) & set(definition["StaticHyperParameters"]))
        if clash:
            raise errors.ValidationError(
                f"{', '.join(clash)} cannot be both tuned (ParameterRanges) and static "
                "(StaticHyperParameters); remove it from one of them.")
        config.setdefault("TrainingJobEarlyStoppingType", "Off")
        limits = config["ResourceLimits"]
        strategy = config["Strategy"]
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
        if strategy == "Hyperband":
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

    def _check_training(self, definition: dict[str, Any], config: dict[str, Any],
                        space: SearchSpace, call: Call, tuning_arn: str) -> None:
        """Build a first trial's training job (not started) so a bad definition fails now,
        with CreateTrainingJob's own message, and check the objective is a metric it emits."""
        definition.setdefault("AlgorithmSpecification", {})
        request = {k: v for k, v in copy.deepcopy(definition).items()
                   if k not in DEFINITION_ONLY}
        request["TrainingJobName"] = "probe"
        request["HyperParameters"] = {
            **definition["StaticHyperParameters"],
            **{p.name: p.hyperparameter(_some_value(p)) for p in space.parameters}}
        request.setdefault("ResourceConfig", resource_config(definition))
        probe = self.jobs.training.check(request, call.region, call.principal.account_id,
                                         tuning_arn)
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

    def _check_warm_start(self, warm: dict[str, Any], config: dict[str, Any],
                          definition: dict[str, Any]) -> None:
        parents = warm["ParentHyperParameterTuningJobs"]
        if not 1 <= len(parents) <= MAX_PARENTS:
            raise errors.ValidationError(
                f"WarmStartConfig takes 1 to {MAX_PARENTS} parent tuning jobs.")
        objective = config["HyperParameterTuningJobObjective"]
        for parent in parents:
            pname = parent["HyperParameterTuningJobName"]
            try:
                d = self.jobs.describe(pname)
            except errors.ResourceNotFound as exc:
                raise errors.ValidationError(
                    f"WarmStartConfig: the parent tuning job {pname!r} does not exist.") from exc
            if not JobStatus(d["HyperParameterTuningJobStatus"]).is_finished():
                raise errors.ValidationError(
                    f"WarmStartConfig: the parent tuning job {pname!r} is "
                    f"{d['HyperParameterTuningJobStatus']}; a parent must have finished.")
            theirs = d["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
            if theirs != objective:
                raise errors.ValidationError(
                    f"WarmStartConfig: the parent {pname!r} optimized {theirs['Type']} "
                    f"{theirs['MetricName']!r}; this job optimizes {objective['Type']} "
                    f"{objective['MetricName']!r}. Warm start needs the same objective.")
            image = d["TrainingJobDefinition"]["AlgorithmSpecification"].get("TrainingImage")
            if warm["WarmStartType"] == "IdenticalDataAndAlgorithm" and image != definition[
                    "AlgorithmSpecification"].get("TrainingImage"):
                raise errors.ValidationError(
                    f"WarmStartConfig IdenticalDataAndAlgorithm: the parent {pname!r} used "
                    f"the image {image!r}; use TransferLearning to change the algorithm.")

    # --- reads ------------------------------------------------------------------------------

    def describe(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        describe: dict[str, Any] = self.jobs.describe(params["HyperParameterTuningJobName"])
        return describe

    def stop(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        self.jobs.stop(params["HyperParameterTuningJobName"])
        return {}

    def list(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        jobs = [d for d in self.jobs.all() if matches_filters(
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
        d = self.jobs.describe(params["HyperParameterTuningJobName"])
        summaries = self.jobs.summaries(d)
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


def _some_value(p: Any) -> Any:
    d = p.distribution
    return d.choices[0] if hasattr(d, "choices") else d.low


def _tuning_summary(d: dict[str, Any]) -> dict[str, Any]:
    config = d["HyperParameterTuningJobConfig"]
    result: dict[str, Any] = {k: d[k] for k in (
        "HyperParameterTuningJobName", "HyperParameterTuningJobArn",
        "HyperParameterTuningJobStatus", "CreationTime", "HyperParameterTuningEndTime",
        "LastModifiedTime", "TrainingJobStatusCounters", "ObjectiveStatusCounters") if k in d}
    result["Strategy"] = config["Strategy"]
    result["ResourceLimits"] = config["ResourceLimits"]
    return result

"""The search space, SageMaker's early-stopping rule and the end-of-job criteria, directly."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

import optuna
import pytest

from cove.errors import ValidationError
from cove.sagemaker import JobStatus
from cove.tuning import Trial, TrialState, TuningJob
from cove.tuning._jobs import ending_reason
from cove.tuning._search import hyperband_resources, new_study, worse_than_median
from cove.tuning._space import SearchSpace


def _sample(ranges: dict[str, Any], n: int = 300) -> list[dict[str, str]]:
    space = SearchSpace.from_ranges(ranges)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    return [space.hyperparameters(study.ask(space.distributions()).params) for _ in range(n)]


def test_scaling_types_sample_their_ranges() -> None:
    linear = [float(h["x"]) for h in _sample({"ContinuousParameterRanges": [
        {"Name": "x", "MinValue": "0.001", "MaxValue": "1", "ScalingType": "Linear"}]})]
    log = [float(h["x"]) for h in _sample({"ContinuousParameterRanges": [
        {"Name": "x", "MinValue": "0.001", "MaxValue": "1", "ScalingType": "Logarithmic"}]})]
    reverse = [float(h["x"]) for h in _sample({"ContinuousParameterRanges": [
        {"Name": "x", "MinValue": "0.9", "MaxValue": "0.9999",
         "ScalingType": "ReverseLogarithmic"}]})]
    assert all(0.001 <= v <= 1 for v in linear + log) and all(0.9 <= v <= 0.9999
                                                              for v in reverse)
    # log scale spends as many draws in [0.001, 0.01) as in [0.1, 1); linear almost none
    assert sum(v < 0.01 for v in log) > 60 and sum(v < 0.01 for v in linear) < 10
    # reverse-log crowds towards the top: as many draws in [0.999, 0.9999) as in [0.9, 0.99)
    assert sum(v >= 0.999 for v in reverse) > 60
    ints = [h["n"] for h in _sample({"IntegerParameterRanges": [
        {"Name": "n", "MinValue": "1", "MaxValue": "1000", "ScalingType": "Logarithmic"}]})]
    assert all(s.isdigit() and 1 <= int(s) <= 1000 for s in ints)
    assert sum(int(s) < 10 for s in ints) > 60


def test_auto_scaling_goes_logarithmic_for_wide_positive_ranges() -> None:
    wide = SearchSpace.from_ranges({"ContinuousParameterRanges": [
        {"Name": "x", "MinValue": "1e-4", "MaxValue": "1", "ScalingType": "Auto"}]})
    narrow = SearchSpace.from_ranges({"ContinuousParameterRanges": [
        {"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "Auto"}]})
    assert wide.parameters[0].distribution.log  # type: ignore[attr-defined]
    assert not narrow.parameters[0].distribution.log  # type: ignore[attr-defined]


def test_internal_values_round_trip_and_reject_outsiders() -> None:
    space = SearchSpace.from_ranges({
        "ContinuousParameterRanges": [{"Name": "r", "MinValue": "0.5", "MaxValue": "0.99",
                                       "ScalingType": "ReverseLogarithmic"}],
        "IntegerParameterRanges": [{"Name": "n", "MinValue": "2", "MaxValue": "9"}],
        "CategoricalParameterRanges": [{"Name": "c", "Values": ["gbtree", "dart"]}]})
    hps = {"r": "0.75", "n": "4", "c": "dart"}
    internal = space.internal(hps)
    assert internal is not None and math.isclose(internal["r"], 0.25)
    assert space.hyperparameters(internal) == hps
    assert space.internal({**hps, "n": "10"}) is None
    assert space.internal({**hps, "c": "gblinear"}) is None
    assert space.internal({"r": "0.75", "n": "4"}) is None


def test_grid_enumerates_in_declared_order() -> None:
    space = SearchSpace.from_ranges({
        "IntegerParameterRanges": [{"Name": "d", "MinValue": "1", "MaxValue": "2"}],
        "CategoricalParameterRanges": [{"Name": "c", "Values": ["x", "y", "z"]}]})
    assert space.grid_size() == 6
    assert [(p["d"], p["c"]) for p in space.grid()] == [
        (1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z")]
    with pytest.raises(ValidationError, match="Grid strategy"):
        SearchSpace.from_ranges({"IntegerParameterRanges": [
            {"Name": "d", "MinValue": "1", "MaxValue": "100",
             "ScalingType": "Logarithmic"}]}).grid()


def test_sagemaker_median_rule() -> None:
    previous = [[10, 8, 6, 4], [12, 9, 7, 5], [11, 10, 9, 8]]
    # running averages at step 2: 9, 10.5, 10.5 → median 10.5
    assert worse_than_median([12, 11], previous, minimize=True)
    assert not worse_than_median([12, 10], previous, minimize=True)
    assert not worse_than_median([50], previous, minimize=True)  # never on the first step
    assert not worse_than_median([50, 50], previous[:1], minimize=True)  # too few to judge
    assert worse_than_median([0.1, 0.2], [[0.5, 0.6], [0.4, 0.7]], minimize=False)
    # a job that ran fewer steps than the current one does not count at later steps
    assert not worse_than_median([9, 9, 9], [[1, 1], [1, 1], [5, 5, 5]], minimize=True)


def test_hyperband_max_resource_from_static_epochs() -> None:
    config = {"Strategy": "Hyperband", "StrategyConfig": {"HyperbandStrategyConfig": {
        "MinResource": 2}}}
    assert hyperband_resources(config, {"epochs": "27"}) == (2, 27)
    assert hyperband_resources(config, {"num_epochs": '"9"'}) == (2, 9)
    with pytest.raises(ValueError, match="MaxResource"):
        hyperband_resources(config, {"lr": "0.1"})
    study = new_study({**config, "HyperParameterTuningJobObjective": {
        "Type": "Maximize", "MetricName": "acc"}}, {"epochs": "27"}, 10)
    assert isinstance(study.pruner, optuna.pruners.HyperbandPruner)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE


def _tuning(**config: Any) -> TuningJob:
    return TuningJob("t", "arn:t", JobStatus.IN_PROGRESS, 1000.0, 1000.0, MappingProxyType({
        "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 5, "MaxParallelTrainingJobs": 1,
                           "MaxRuntimeInSeconds": 300}, **config}), MappingProxyType({}))


def test_ending_reasons() -> None:
    done = [Trial(n, f"j{n}", {}, TrialState.COMPLETE) for n in (1, 2, 3)]
    running = [*done, Trial(4, "j4", {}, TrialState.RUNNING)]
    values = {1: 5.0, 2: 4.0, 3: 4.5}
    assert ending_reason(_tuning(), running, values, 5, 1100) == ""
    assert ending_reason(_tuning(), running, values, 5, 1300) == "MaxRuntimeInSeconds"
    assert ending_reason(_tuning(), done, values, 3, 1100) == "MaxNumberOfTrainingJobs"
    assert ending_reason(_tuning(), running, values, 3, 1100) == ""  # one still running
    target = _tuning(TuningJobCompletionCriteria={"TargetObjectiveMetricValue": 4.2})
    assert ending_reason(target, running, values, 5, 1100) == "TargetObjectiveMetricValue"
    patience = _tuning(TuningJobCompletionCriteria={"BestObjectiveNotImproving": {
        "MaxNumberOfTrainingJobsNotImproving": 1}})
    assert ending_reason(patience, running, values, 5, 1100) == "BestObjectiveNotImproving"
    assert ending_reason(patience, running, {1: 5.0, 2: 4.0}, 5, 1100) == ""

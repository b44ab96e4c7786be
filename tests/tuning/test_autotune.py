"""Autotune: ranges chosen from AutoParameters value hints (SageMaker's documented XGBoost
ranges for XGBoost's hyperparameters), the settings left out filled in, the job run, and the
chosen ranges in Describe; bad Autotune requests refused and nothing created."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from cove import errors
from cove.tuning._autotune import apply_autotune
from tests.training.helpers import unique
from tests.tuning.helpers import config, definition, source, training_jobs, wait_tuning

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ENABLED = {"Autotune": {"Mode": "Enabled"}}


@pytest.fixture
def sm(cove: Any) -> Any:
    return cove.client("sagemaker")


def _chosen(hints: dict[str, str], image: str = "sagemaker-scikit-learn:1.2-1") -> dict[str, Any]:
    cfg = {"Strategy": "Bayesian", "ResourceLimits": {"MaxParallelTrainingJobs": 2},
           "ParameterRanges": {"AutoParameters": [{"Name": n, "ValueHint": v}
                                                  for n, v in hints.items()]}}
    apply_autotune(ENABLED, cfg, {"AlgorithmSpecification": {"TrainingImage": image}})
    return cfg


def test_ranges_from_value_hints() -> None:
    cfg = _chosen({"epochs": "20", "lr": "0.01", "scale": "4.0", "shift": "0", "offset": "-3",
                   "shuffle": "true"})
    ranges = cfg["ParameterRanges"]
    assert ranges["IntegerParameterRanges"] == [
        {"Name": "epochs", "MinValue": "10", "MaxValue": "40", "ScalingType": "Linear"},
        {"Name": "shift", "MinValue": "0", "MaxValue": "10", "ScalingType": "Linear"},
        {"Name": "offset", "MinValue": "-6", "MaxValue": "-1", "ScalingType": "Linear"}]
    assert ranges["ContinuousParameterRanges"] == [
        {"Name": "lr", "MinValue": "0.001", "MaxValue": "1.0", "ScalingType": "Logarithmic"},
        {"Name": "scale", "MinValue": "0.4", "MaxValue": "40.0", "ScalingType": "Logarithmic"}]
    assert ranges["CategoricalParameterRanges"] == [{"Name": "shuffle",
                                                     "Values": ["true", "false"]}]
    assert len(ranges["AutoParameters"]) == 6  # the hints stay, beside what they became
    assert cfg["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 60
    assert cfg["TrainingJobEarlyStoppingType"] == "Off"


def test_xgboost_gets_the_documented_ranges() -> None:
    cfg = _chosen({"eta": "0.3", "max_depth": "6", "mystery": "2"},
                  f"{XGB_IMAGE.split(':')[0]}:1.7-1")
    ranges = cfg["ParameterRanges"]
    assert {r["Name"]: (r["MinValue"], r["MaxValue"])
            for r in ranges["ContinuousParameterRanges"]} == {"eta": ("0.1", "0.5")}
    assert {r["Name"]: (r["MinValue"], r["MaxValue"])
            for r in ranges["IntegerParameterRanges"]} == {"max_depth": ("0", "10"),
                                                           "mystery": ("1", "4")}


@pytest.mark.parametrize("hints", [{"activation": "relu"}, {"x": "nan"}, {"x": "inf"},
                                   {"x": "1e308"}, {"": "3"}])
def test_hints_without_a_range_are_refused(hints: dict[str, str]) -> None:
    with pytest.raises(errors.ValidationError):
        _chosen(hints)


def test_autotune_runs_and_describe_shows_the_chosen_ranges(sm: Any, s3: Any,
                                                            bucket: str) -> None:
    name = unique("auto")
    cfg = config("Random", max_jobs=2, parallel=2, RandomSeed=3, ranges={
        "AutoParameters": [{"Name": "x", "ValueHint": "2.5"}],
        "CategoricalParameterRanges": [{"Name": "y", "Values": ["a"]}]})
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=cfg,
        TrainingJobDefinition=definition(bucket, source(s3, bucket)), **ENABLED)
    d = wait_tuning(sm, name)
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    assert d["Autotune"] == {"Mode": "Enabled"}
    ranges = d["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert ranges["AutoParameters"] == [{"Name": "x", "ValueHint": "2.5"}]
    assert ranges["ContinuousParameterRanges"] == [
        {"Name": "x", "MinValue": "0.25", "MaxValue": "25.0", "ScalingType": "Logarithmic"}]
    jobs = training_jobs(sm, name)
    assert len(jobs) == 2
    assert all(0.25 <= float(j["TunedHyperParameters"]["x"]) <= 25 for j in jobs)


def test_bad_autotune_requests_change_nothing(sm: Any, s3: Any, bucket: str) -> None:
    src = source(s3, bucket)
    hints = {"AutoParameters": [{"Name": "x", "ValueHint": "2.5"}]}
    cases = [
        ({"ranges": hints}, {}),  # hints without Autotune
        ({"ranges": {"AutoParameters": [{"Name": "y", "ValueHint": "relu"}]}}, ENABLED),
        ({"ranges": hints}, {"Autotune": {"Mode": "Disabled"}}),
    ]
    for kwargs, extra in cases:
        name = unique("badauto")
        with pytest.raises(ClientError) as err:
            sm.create_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=name,
                HyperParameterTuningJobConfig=config("Random", max_jobs=None, **kwargs),
                TrainingJobDefinition=definition(bucket, src), **extra)
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert not sm.list_hyper_parameter_tuning_jobs(NameContains=name)[
            "HyperParameterTuningJobSummaries"]

"""The engine's small rules on their own: retry-policy delays, cache expiry durations, job
names that fit SageMaker's limits, expressions and conditions."""

from __future__ import annotations

import pytest

from cove import errors
from cove.pipelines._definition import Step, parse
from cove.pipelines._engine import _duration, _retry_delay
from cove.pipelines._expressions import Context, ExpressionError, evaluate, holds
from cove.pipelines._steps import job_name

POLICIES = ({"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "IntervalSeconds": 2,
             "BackoffRate": 3.0, "MaxAttempts": 2},)


def test_retry_policy_delays_back_off_and_stop() -> None:
    step = Step("T", "Training", {}, frozenset(), retry_policies=POLICIES)
    assert _retry_delay(step, 1, "SageMaker.JOB_INTERNAL_ERROR") == 2.0
    assert _retry_delay(step, 2, "SageMaker.JOB_INTERNAL_ERROR") == 6.0
    assert _retry_delay(step, 3, "SageMaker.JOB_INTERNAL_ERROR") is None  # attempts used up
    assert _retry_delay(step, 1, "SageMaker.CAPACITY_ERROR") is None  # not covered
    assert _retry_delay(step, 1, "") is None  # an algorithm error: never retried
    assert _retry_delay(step, 5, "interrupted") == 0.0  # cove's restart: always run again


def test_durations() -> None:
    assert _duration("P30D") == 30 * 86400
    assert _duration("PT1H30M") == 5400
    assert _duration("P1W") == 7 * 86400
    for bad in ("30D", "P", "PT", "P1.5D"):
        with pytest.raises(ExpressionError):
            _duration(bad)


def test_job_names_fit_and_are_stable() -> None:
    long = "A-very_long step name that goes on and on and on"
    for kind, limit in (("Training", 63), ("Tuning", 32), ("Model", 63)):
        name = job_name(kind, "abcdefghijkl", long, 1)
        assert len(name) <= limit and name == name.lower(), name
        assert name == job_name(kind, "abcdefghijkl", long, 1)
        assert name != job_name(kind, "abcdefghijkl", long, 2)


def _context(**parameters: object) -> Context:
    def properties(step: str) -> dict[str, object]:
        return {"Train": {"FinalMetricDataList": [{"MetricName": "rmse", "Value": 0.4}],
                          "ModelArtifacts": {"S3ModelArtifacts": "s3://b/m.tar.gz"}},
                "Ask": {"OutputParameters": {"ok": "yes"}}}[step]
    return Context(parameters, {"PipelineExecutionId": "x1"}, properties,
                   lambda s, n: "s3://b/eval.json", lambda uri: {"metrics": {"acc": [0.7, 0.9]}})


def test_expressions() -> None:
    ctx = _context(Threshold=0.5, Flag=True)
    assert evaluate({"Get": "Steps.Train.FinalMetricDataList['rmse'].Value"}, ctx) == 0.4
    assert evaluate({"Get": "Steps.Train.Properties.ModelArtifacts.S3ModelArtifacts"}, ctx) == \
        "s3://b/m.tar.gz"
    assert evaluate({"Get": "Steps.Ask.OutputParameters['ok']"}, ctx) == "yes"
    assert evaluate({"Std:Join": {"On": "-", "Values": [{"Get": "Parameters.Flag"}, 1,
                                                        {"Get": "Execution.PipelineExecutionId"}]
                                  }}, ctx) == "true-1-x1"
    assert evaluate({"Std:JsonGet": {"PropertyFile": {"Get": "Steps.E.PropertyFiles.F"},
                                     "Path": "metrics.acc[1]"}}, ctx) == 0.9
    with pytest.raises(ExpressionError):
        evaluate({"Get": "Steps.Train.Nope"}, ctx)


def test_conditions() -> None:
    ctx = _context(Threshold=0.5, Name="b")
    metric = {"Get": "Steps.Train.FinalMetricDataList['rmse'].Value"}
    threshold = {"Get": "Parameters.Threshold"}
    assert holds({"Type": "LessThan", "LeftValue": metric, "RightValue": threshold}, ctx)
    assert not holds({"Type": "GreaterThanOrEqualTo", "LeftValue": metric,
                      "RightValue": threshold}, ctx)
    assert holds({"Type": "LessThan", "LeftValue": metric, "RightValue": "0.45"}, ctx)
    assert holds({"Type": "In", "QueryValue": {"Get": "Parameters.Name"},
                  "Values": ["a", "b"]}, ctx)
    assert holds({"Type": "Not", "Condition": {"Type": "Equals", "LeftValue": 1,
                                               "RightValue": 2}}, ctx)
    assert holds({"Type": "Or", "Conditions": [
        {"Type": "Equals", "LeftValue": 1, "RightValue": 2},
        {"Type": "Equals", "LeftValue": 2, "RightValue": 2}]}, ctx)
    assert not holds({"Type": "And", "Conditions": [
        {"Type": "Equals", "LeftValue": 1, "RightValue": 2},
        {"Type": "Equals", "LeftValue": 2, "RightValue": 2}]}, ctx)
    with pytest.raises(ExpressionError):
        holds({"Type": "Sometimes"}, ctx)


def test_parameters_are_typed() -> None:
    definition = parse('{"Parameters": [{"Name": "N", "Type": "Integer", "DefaultValue": 2},'
                       '{"Name": "B", "Type": "Boolean"}], "Steps": []}')
    assert definition.values([{"Name": "B", "Value": "true"}]) == {"N": 2, "B": True}
    for bad in ([], [{"Name": "B", "Value": "yes"}], [{"Name": "Z", "Value": "1"}]):
        with pytest.raises(errors.ValidationError):
            definition.values(bad)

"""The bad requests the fuzz test first found, pinned one by one: each is a 4xx in AWS's wording
(whatever the installed botocore marks required) and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from tests.conftest import CoveServer
from tests.reliability.test_fuzz import Case, Wire
from tests.training.helpers import script_job, unique


def _error(call: Any, **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response  # type: ignore[no-any-return]


@pytest.mark.parametrize("missing", ["AlgorithmSpecification", "ResourceConfig"])
def test_a_training_job_without_what_cove_needs_is_a_validation_error(
        cove: CoveServer, bucket: str, missing: str) -> None:
    sm = cove.client("sagemaker")
    request = script_job(unique("nospec"), bucket, f"s3://{bucket}/code.tar.gz")
    del request[missing]
    answer = _error(sm.create_training_job, **request)
    camel = missing[0].lower() + missing[1:]
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert answer["Error"]["Code"] == "ValidationException"
    assert answer["Error"]["Message"] == (
        f"1 validation error detected: Value null at '{camel}' failed to satisfy constraint: "
        "Member must not be null")
    assert sm.list_training_jobs(NameContains=request["TrainingJobName"])[
        "TrainingJobSummaries"] == []


def test_a_tuning_definition_without_an_algorithm_is_a_validation_error(
        cove: CoveServer, bucket: str) -> None:
    sm = cove.client("sagemaker")
    definition = script_job("unused", bucket, f"s3://{bucket}/code.tar.gz")
    for key in ("TrainingJobName", "AlgorithmSpecification", "HyperParameters"):
        definition.pop(key)
    name = unique("tune")[:32]
    # botocore marks AlgorithmSpecification required inside the definition: send it raw.
    answer = _raw(cove, "sagemaker", "CreateHyperParameterTuningJob", {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 1, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {"ContinuousParameterRanges": [
                {"Name": "lr", "MinValue": "0.1", "MaxValue": "0.2"}]}},
        "TrainingJobDefinition": definition})
    assert answer.status_code == 400, answer.text
    assert answer.json()["__type"] == "ValidationException"
    assert "'trainingJobDefinition.algorithmSpecification'" in answer.json()["message"]
    assert sm.list_hyper_parameter_tuning_jobs(NameContains=name)[
        "HyperParameterTuningJobSummaries"] == []


@pytest.mark.parametrize(("operation", "params"), [
    ("ListNotebookInstances", {"SortBy": None}),
    ("ListNotebookInstances", {"SortOrder": None, "MaxResults": None}),
    ("ListTransformJobs", {"CreationTimeAfter": None}),
    ("ListTrainingJobs", {"SortBy": None, "StatusEquals": None}),
])
def test_a_null_member_reads_as_absent(cove: CoveServer, operation: str,
                                       params: dict[str, Any]) -> None:
    answer = _raw(cove, "sagemaker", operation, params)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("bound", [-1e20, 1e20, -1e300])
def test_a_time_filter_outside_the_calendar_is_a_validation_error(cove: CoveServer,
                                                                   bound: float) -> None:
    answer = _raw(cove, "sagemaker", "ListTransformJobs", {"CreationTimeAfter": bound})
    assert answer.status_code == 400, answer.text
    assert answer.json()["__type"] == "ValidationException"
    assert "creationTimeAfter" in answer.json()["message"]


@pytest.mark.parametrize(("service", "operation"), [
    ("sagemaker", "ListEndpoints"), ("logs", "DescribeLogGroups"), ("lambda", "Invoke")])
def test_json_nested_100000_deep_is_a_4xx(cove: CoveServer, service: str,
                                          operation: str) -> None:
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    answer = _raw(cove, service, operation, {}, deep)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["__type"] in ("SerializationException", "InvalidRequestContentException",
                                       "InvalidParameterValueException")


def test_a_next_token_nested_deep_is_a_validation_error(cove: CoveServer) -> None:
    import base64

    # 3,000 levels: past Python's recursion limit, inside the model's 8,192-character token.
    token = base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).decode()
    answer = _raw(cove, "sagemaker", "ListModels", {"NextToken": token})
    assert answer.status_code == 400, answer.text


def _raw(cove: CoveServer, service: str, operation: str, params: dict[str, Any],
         body: bytes | None = None) -> Any:
    model = botocore.session.get_session().get_service_model(service).operation_model(
        operation)
    if body is None and model.service_model.protocol == "json":
        body = json.dumps(params).encode()
    answer = Wire(cove).send(model, Case(operation, params, body))
    assert answer is not None
    return answer

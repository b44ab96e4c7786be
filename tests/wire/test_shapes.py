"""The model-driven request validator: AWS's wording, paths and counting, no server needed.

Expected messages are copied from real AWS responses where one is on record (e.g. the
SageMaker ``trainingJobName`` pattern/length pair, Lambda's sensitive ``Map keys`` error).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cove import errors
from cove.wire._shapes import ShapeValidator, skipped_patterns

NAME_PATTERN = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
PREFIX = "failed to satisfy constraint:"


@pytest.fixture(scope="module")
def sagemaker() -> ShapeValidator:
    return ShapeValidator("sagemaker")


def training_job() -> dict[str, Any]:
    return {
        "TrainingJobName": "xgb-2024-01-01",
        "AlgorithmSpecification": {
            "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            "TrainingInputMode": "File",
        },
        "RoleArn": "arn:aws:iam::123456789012:role/x",
        "HyperParameters": {"num_round": "10", "objective": "reg:squarederror"},
        "InputDataConfig": [{
            "ChannelName": "train",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                            "S3Uri": "s3://bucket/train/",
                                            "S3DataDistributionType": "FullyReplicated"}},
            "ContentType": "text/csv",
        }],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Tags": [{"Key": "project", "Value": "démo ünïcode"}],
    }


def message(validator: ShapeValidator, operation: str, params: dict[str, Any]) -> str:
    with pytest.raises(errors.ValidationError) as caught:
        validator.validate(operation, params)
    assert caught.value.code == "ValidationException"
    assert caught.value.status == 400
    return str(caught.value.message)


def test_valid_training_job_passes(sagemaker: ShapeValidator) -> None:
    sagemaker.validate("CreateTrainingJob", training_job())


def test_operations_lists_the_model(sagemaker: ShapeValidator) -> None:
    ops = sagemaker.operations()
    assert {"CreateTrainingJob", "DescribeTrainingJob", "CreateEndpoint"} <= ops


def test_bad_name_pattern(sagemaker: ShapeValidator) -> None:
    job = training_job() | {"TrainingJobName": "bad name!"}
    assert message(sagemaker, "CreateTrainingJob", job) == (
        f"1 validation error detected: Value 'bad name!' at 'trainingJobName' {PREFIX} "
        f"Member must satisfy regular expression pattern: {NAME_PATTERN}")


def test_long_name_breaks_pattern_and_length(sagemaker: ShapeValidator) -> None:
    name = "a" * 64
    job = training_job() | {"TrainingJobName": name}
    assert message(sagemaker, "CreateTrainingJob", job) == (
        f"2 validation errors detected: Value '{name}' at 'trainingJobName' {PREFIX} "
        f"Member must satisfy regular expression pattern: {NAME_PATTERN}; "
        f"Value '{name}' at 'trainingJobName' {PREFIX} "
        "Member must have length less than or equal to 63")


def test_empty_name_is_too_short(sagemaker: ShapeValidator) -> None:
    job = training_job() | {"TrainingJobName": ""}
    assert message(sagemaker, "CreateTrainingJob", job).endswith(
        f"Value '' at 'trainingJobName' {PREFIX} "
        "Member must have length greater than or equal to 1")


def test_bad_enum(sagemaker: ShapeValidator) -> None:
    job = training_job()
    job["AlgorithmSpecification"]["TrainingInputMode"] = "Bogus"
    assert message(sagemaker, "CreateTrainingJob", job) == (
        "1 validation error detected: Value 'Bogus' at "
        f"'algorithmSpecification.trainingInputMode' {PREFIX} "
        "Member must satisfy enum value set: [Pipe, File, FastFile]")


def test_missing_required_member(sagemaker: ShapeValidator) -> None:
    job = training_job()
    del job["RoleArn"]
    assert message(sagemaker, "CreateTrainingJob", job) == (
        f"1 validation error detected: Value null at 'roleArn' {PREFIX} Member must not be null")


def test_missing_nested_required_member(sagemaker: ShapeValidator) -> None:
    job = training_job()
    job["OutputDataConfig"] = {}
    assert message(sagemaker, "CreateTrainingJob", job) == (
        "1 validation error detected: Value null at 'outputDataConfig.s3OutputPath' "
        f"{PREFIX} Member must not be null")


def test_wrong_type(sagemaker: ShapeValidator) -> None:
    job = training_job()
    job["ResourceConfig"]["InstanceCount"] = "1"
    assert message(sagemaker, "CreateTrainingJob", job) == (
        "1 validation error detected: Value '1' at 'resourceConfig.instanceCount' "
        f"{PREFIX} Member must be an integer")


@pytest.mark.parametrize("value", [True, 1.5, None])
def test_booleans_and_floats_are_not_integers(sagemaker: ShapeValidator, value: Any) -> None:
    job = training_job()
    job["StoppingCondition"]["MaxRuntimeInSeconds"] = value
    if value is None:  # JSON null for an optional member means "absent"
        sagemaker.validate("CreateTrainingJob", job)
    else:
        assert "Member must be an integer" in message(sagemaker, "CreateTrainingJob", job)


def test_structure_given_a_string(sagemaker: ShapeValidator) -> None:
    job = training_job() | {"ResourceConfig": "ml.m5.large"}
    assert message(sagemaker, "CreateTrainingJob", job) == (
        "1 validation error detected: Value 'ml.m5.large' at 'resourceConfig' "
        f"{PREFIX} Member must be a structure")


def test_number_below_minimum(sagemaker: ShapeValidator) -> None:
    job = training_job()
    job["StoppingCondition"]["MaxRuntimeInSeconds"] = 0
    assert message(sagemaker, "CreateTrainingJob", job) == (
        "1 validation error detected: Value '0' at 'stoppingCondition.maxRuntimeInSeconds' "
        f"{PREFIX} Member must have value greater than or equal to 1")


def test_unknown_top_level_member(sagemaker: ShapeValidator) -> None:
    job = training_job() | {"TrainingJobNmae": "typo"}
    text = message(sagemaker, "CreateTrainingJob", job)
    assert text.startswith('1 validation error detected: Unknown parameter in input: '
                           '"TrainingJobNmae", must be one of: TrainingJobName, HyperParameters')


def test_nested_list_item_error(sagemaker: ShapeValidator) -> None:
    job = training_job()
    job["InputDataConfig"].append(copy.deepcopy(job["InputDataConfig"][0]))
    job["InputDataConfig"][1]["ChannelName"] = "bad channel"
    assert message(sagemaker, "CreateTrainingJob", job) == (
        "1 validation error detected: Value 'bad channel' at "
        f"'inputDataConfig.2.member.channelName' {PREFIX} "
        r"Member must satisfy regular expression pattern: ^[A-Za-z0-9\.\-_]+")


def test_deep_list_item_error(sagemaker: ShapeValidator) -> None:
    job = training_job()
    job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataType"] = "Folder"
    text = message(sagemaker, "CreateTrainingJob", job)
    assert text.startswith("1 validation error detected: Value 'Folder' at "
                           "'inputDataConfig.1.member.dataSource.s3DataSource.s3DataType' "
                           f"{PREFIX} Member must satisfy enum value set: [")


def test_list_too_short(sagemaker: ShapeValidator) -> None:
    job = training_job() | {"InputDataConfig": []}
    assert message(sagemaker, "CreateTrainingJob", job) == (
        f"1 validation error detected: Value '[]' at 'inputDataConfig' {PREFIX} "
        "Member must have length greater than or equal to 1")


def test_scalar_list_elements_are_reported_once(sagemaker: ShapeValidator) -> None:
    job = training_job()
    job["AlgorithmSpecification"]["ContainerEntrypoint"] = ["python", "x" * 300]
    assert message(sagemaker, "CreateTrainingJob", job) == (
        f"1 validation error detected: Value '[python, {'x' * 300}]' at "
        f"'algorithmSpecification.containerEntrypoint' {PREFIX} Member must satisfy "
        "constraint: [Member must have length less than or equal to 256, Member must have "
        "length greater than or equal to 0, Member must satisfy regular expression "
        "pattern: ^.*]")


def test_map_keys(sagemaker: ShapeValidator) -> None:
    job = training_job() | {"Environment": {"1BAD": "x"}}
    assert message(sagemaker, "CreateTrainingJob", job) == (
        f"1 validation error detected: Value '{{1BAD=x}}' at 'environment' {PREFIX} "
        "Map keys must satisfy constraint: [Member must have length less than or equal to "
        "512, Member must have length greater than or equal to 0, Member must satisfy "
        "regular expression pattern: ^[a-zA-Z_][a-zA-Z0-9_]*]")


def test_unicode_tag_pattern(sagemaker: ShapeValidator) -> None:
    """``\\p{L}``-style Java classes are translated, not skipped."""
    job = training_job()
    job["Tags"] = [{"Key": "ok-ключ", "Value": "fine"}, {"Key": "bad*key", "Value": "v"}]
    assert message(sagemaker, "CreateTrainingJob", job).startswith(
        "1 validation error detected: Value 'bad*key' at 'tags.2.member.key'")
    assert not skipped_patterns() & {r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)"}


def test_lengths_count_utf16_units(sagemaker: ShapeValidator) -> None:
    job = training_job()
    job["Tags"] = [{"Key": "k", "Value": "\U0001f600" * 129}]  # 258 UTF-16 units > 256
    assert "Member must have length less than or equal to 256" in message(
        sagemaker, "CreateTrainingJob", job)


def test_errors_are_counted_and_joined(sagemaker: ShapeValidator) -> None:
    job = training_job() | {"TrainingJobName": "bad name!"}
    del job["RoleArn"]
    job["AlgorithmSpecification"]["TrainingInputMode"] = "Bogus"
    job["ResourceConfig"]["InstanceType"] = "ml.huge"
    text = message(sagemaker, "CreateTrainingJob", job)
    assert text.startswith("4 validation errors detected: Value 'bad name!' at 'trainingJobName'")
    parts = text.split(": ", 1)[1].split("; ")
    assert [part.split(f" {PREFIX}")[0] for part in parts] == [
        "Value 'bad name!' at 'trainingJobName'",
        "Value 'Bogus' at 'algorithmSpecification.trainingInputMode'",
        "Value null at 'roleArn'",
        "Value 'ml.huge' at 'resourceConfig.instanceType'",
    ]


@pytest.mark.parametrize("when", [1700000000, 1700000000.5, "2024-01-01T00:00:00Z",
                                  "2024-01-01"])
def test_timestamps_accept_epoch_and_iso(sagemaker: ShapeValidator, when: Any) -> None:
    sagemaker.validate("ListTrainingJobs", {"CreationTimeAfter": when})


def test_timestamps_reject_other_strings(sagemaker: ShapeValidator) -> None:
    assert "Member must be a timestamp" in message(
        sagemaker, "ListTrainingJobs", {"CreationTimeAfter": "yesterday"})


def test_unknown_operation(sagemaker: ShapeValidator) -> None:
    with pytest.raises(errors.UnknownOperation):
        sagemaker.validate("CreateTimeMachine", {})


def test_logs_is_validated_from_its_own_model() -> None:
    logs = ShapeValidator("logs")
    assert "GetLogEvents" in logs.operations()
    logs.validate("GetLogEvents", {"logGroupName": "/aws/sagemaker/TrainingJobs",
                                   "logStreamName": "job/algo-1-1700000000",
                                   "startFromHead": True})
    assert message(logs, "GetLogEvents", {"logGroupName": "/aws/sagemaker/TrainingJobs"}) == (
        f"1 validation error detected: Value null at 'logStreamName' {PREFIX} "
        "Member must not be null")
    # logs' patterns are printed as the model has them (no SageMaker-style "^").
    assert message(logs, "GetLogEvents", {"logGroupName": "bad group", "logStreamName": "s",
                                          "limit": 10001}) == (
        f"2 validation errors detected: Value 'bad group' at 'logGroupName' {PREFIX} "
        r"Member must satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+; "
        f"Value '10001' at 'limit' {PREFIX} Member must have value less than or equal to 10000")


def test_sensitive_values_are_not_echoed() -> None:
    """Lambda's environment is sensitive: AWS says ``Value at``, without the value."""
    lam = ShapeValidator("lambda")
    params = {"FunctionName": "f", "Environment": {"Variables": {"a": "secret"}}}
    assert message(lam, "UpdateFunctionConfiguration", params) == (
        f"1 validation error detected: Value at 'environment.variables' {PREFIX} "
        "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: "
        "[a-zA-Z]([a-zA-Z0-9_])+]")

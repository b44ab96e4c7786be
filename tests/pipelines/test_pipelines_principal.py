"""A pipeline's steps act for its role, and for nothing more: what the role may not read,
invoke or pass, a step may not either, whoever started the execution (here: cove's root key).

The attacker owns a pipeline whose role reads only its own bucket, and points a property file,
a definition, a training job's role and a Lambda step at what is not theirs."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functions.conftest import zip_of
from tests.pipelines.helpers import create, start, steps, wait
from tests.training.helpers import ROLE, unique, wait_for

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})


def narrow_role(cove: Any, bucket: str) -> str:
    """A role that may use SageMaker, read and write ``bucket``, and pass only itself."""
    iam = cove.client("iam")
    name = unique("narrow")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="own", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
             "Resource": f"arn:aws:s3:::{bucket}/*"},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": arn,
             "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}}]}))
    return str(arn)


@pytest.fixture
def buckets(s3: Any) -> tuple[str, str]:
    """(the attacker's bucket, a bucket holding someone else's secret)."""
    own, secret = unique("own"), unique("secret")
    for name in (own, secret):
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="metrics.json", Body=b'{"accuracy": 0.9}')
    return own, secret


def peek(uri: str) -> dict[str, Any]:
    """A Condition step that reads a JSON document by S3Uri (``JsonGet(s3_uri=...)``)."""
    return {"Name": "Peek", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "GreaterThan", "LeftValue": {"Std:JsonGet": {
            "S3Uri": uri, "Path": "accuracy"}}, "RightValue": 0.5}],
        "IfSteps": [], "ElseSteps": []}}


def run(sm: Any, role: str, step: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    name = unique("principal")
    create(sm, name, [step], RoleArn=role)
    execution = start(sm, name)
    return wait(sm, execution), steps(sm, execution)[step["Name"]]


def live_keys(cove: Any, owner_prefix: str) -> int:
    """Keys the server still honours for these owners (its database, read beside it)."""
    with sqlite3.connect(cove.home / "cove.db") as db:
        return int(db.execute("select count(*) from access_keys where owner like ?",
                              (owner_prefix + "%",)).fetchone()[0])


def _denied(step: dict[str, Any], role: str, execution: dict[str, Any], action: str) -> None:
    session = f"SageMaker-{execution['PipelineExecutionArn'].rsplit('/', 1)[-1]}"
    principal = f"assumed-role/{role.rsplit('/', 1)[-1]}/{session}"
    assert step["StepStatus"] == "Failed"
    assert step["FailureReason"].startswith("AccessDenied"), step["FailureReason"]
    assert principal in step["FailureReason"] and action in step["FailureReason"]
    assert execution["PipelineExecutionStatus"] == "Failed"


def test_property_file_elsewhere_is_denied(cove: Any, buckets: tuple[str, str]) -> None:
    sm, (own, secret) = cove.client("sagemaker"), buckets
    role = narrow_role(cove, own)

    execution, step = run(sm, role, peek(f"s3://{secret}/metrics.json"))
    _denied(step, role, execution, "s3:GetObject")
    assert secret in step["FailureReason"]
    execution_id = execution["PipelineExecutionArn"].rsplit("/", 1)[-1]
    wait_for(lambda: live_keys(cove, f"pipeline-execution/{execution_id}") == 0)  # ends too

    execution, step = run(sm, role, peek(f"s3://{own}/metrics.json"))  # its own: read
    assert (execution["PipelineExecutionStatus"], step["Metadata"]["Condition"]) == \
        ("Succeeded", {"Outcome": "true"})
    execution, step = run(sm, ROLE, peek(f"s3://{secret}/metrics.json"))  # a broad role
    assert execution["PipelineExecutionStatus"] == "Succeeded"


def test_definition_elsewhere_is_denied(cove: Any, s3: Any, buckets: tuple[str, str]) -> None:
    sm, (own, secret) = cove.client("sagemaker"), buckets
    role = narrow_role(cove, own)
    text = json.dumps({"Version": "2020-12-01", "Parameters": [], "Steps": [
        {"Name": "F", "Type": "Fail", "Arguments": {"ErrorMessage": "mine"}}]})
    for bucket in (own, secret):
        s3.put_object(Bucket=bucket, Key="definition.json", Body=text.encode())

    name = unique("def")
    with pytest.raises(ClientError) as exc:
        sm.create_pipeline(PipelineName=name, RoleArn=role, PipelineDefinitionS3Location={
            "Bucket": secret, "ObjectKey": "definition.json"})
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "s3:GetObject" in exc.value.response["Error"]["Message"]
    assert not sm.list_pipelines(PipelineNamePrefix=name)["PipelineSummaries"]

    sm.create_pipeline(PipelineName=name, RoleArn=role, PipelineDefinitionS3Location={
        "Bucket": own, "ObjectKey": "definition.json"})
    with pytest.raises(ClientError) as exc:  # nor by an update that keeps the narrow role
        sm.update_pipeline(PipelineName=name, PipelineDefinitionS3Location={
            "Bucket": secret, "ObjectKey": "definition.json"})
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    assert sm.describe_pipeline(PipelineName=name)["PipelineDefinition"] == text
    assert live_keys(cove, "pipeline-definition/") == 0


def test_training_under_a_role_it_may_not_pass(cove: Any, buckets: tuple[str, str]) -> None:
    sm, (own, _) = cove.client("sagemaker"), buckets
    role = narrow_role(cove, own)
    train = {"Name": "Train", "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {"TrainingImage": "683313688378.dkr.ecr.us-east-1."
                                   "amazonaws.com/sagemaker-xgboost:1.7-1",
                                   "TrainingInputMode": "File"},
        "RoleArn": ROLE,  # the broad default role: not the narrow role's to pass
        "OutputDataConfig": {"S3OutputPath": f"s3://{own}/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60}}}
    execution, step = run(sm, role, train)
    _denied(step, role, execution, "iam:PassRole")
    assert ROLE in step["FailureReason"]
    execution_id = execution["PipelineExecutionArn"].rsplit("/", 1)[-1]
    assert not sm.list_training_jobs(NameContains=execution_id)["TrainingJobSummaries"]


def test_lambda_step_needs_invoke_permission(cove: Any, buckets: tuple[str, str]) -> None:
    sm, lam, (own, _) = cove.client("sagemaker"), cove.client("lambda"), buckets
    function = unique("fn")
    lam.create_function(FunctionName=function, Runtime="python3.11", Role=ROLE,
                        Handler="lambda_function.handler", Code={"ZipFile": zip_of({
                            "lambda_function.py": "def handler(event, context):\n"
                            "    return {'ran': 'yes'}\n"})})
    arn = lam.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    ask = {"Name": "Ask", "Type": "Lambda", "FunctionArn": arn, "Arguments": {},
           "OutputParameters": [{"OutputName": "ran", "OutputType": "String"}]}

    role = narrow_role(cove, own)
    execution, step = run(sm, role, ask)
    _denied(step, role, execution, "lambda:InvokeFunction")
    assert arn in step["FailureReason"]
    execution, step = run(sm, ROLE, ask)  # the default role may invoke it
    assert execution["PipelineExecutionStatus"] == "Succeeded"

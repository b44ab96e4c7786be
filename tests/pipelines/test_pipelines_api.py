"""Pipelines through boto3: definitions checked at create time, executions that really run
their steps (training, condition, model, registration, transform, Fail, Lambda), parameters,
caching, retry, stop and parallelism limits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functions.conftest import zip_of
from tests.pipelines.helpers import (
    create,
    definition,
    model_step,
    source,
    start,
    steps,
    training_step,
    wait,
)
from tests.training.helpers import ROLE, XGBOOST_IMAGE, unique, wait_for

TOKEN = "t" * 32  # ClientRequestToken: 32 characters at least


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_bad_definitions_are_refused(cove: Any) -> None:
    sm = cove.client("sagemaker")
    fail = {"Name": "F", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}
    cases = {
        "unknown step type": [{"Name": "E", "Type": "EMR", "Arguments": {}}],
        "missing step": [{**fail, "Arguments": {"ErrorMessage": {"Get": "Steps.Nope.X"}}}],
        "missing parameter": [{**fail, "Arguments": {"ErrorMessage": {
            "Get": "Parameters.Nope"}}}],
        "cycle": [{**fail, "DependsOn": ["G"]}, {**fail, "Name": "G", "DependsOn": ["F"]}],
        "twice": [fail, fail],
    }
    for why, bad in cases.items():
        with pytest.raises(ClientError) as exc:
            create(sm, unique("bad"), bad)
        assert _code(exc) == "ValidationException", why
    with pytest.raises(ClientError) as exc:
        sm.create_pipeline(PipelineName=unique("bad"), RoleArn=ROLE,
                           PipelineDefinition="{not json")
    assert _code(exc) == "ValidationException"
    assert not [p for p in sm.list_pipelines(PipelineNamePrefix="bad")["PipelineSummaries"]]


def test_crud_parameters_and_definition_snapshot(cove: Any) -> None:
    sm = cove.client("sagemaker")
    name = unique("crud")
    params = [{"Name": "Message", "Type": "String", "DefaultValue": "hello"},
              {"Name": "Count", "Type": "Integer", "DefaultValue": 2}]
    fail = {"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {
        "On": " ", "Values": [{"Get": "Parameters.Message"}, {"Get": "Parameters.Count"},
                              {"Get": "Execution.PipelineExecutionId"}]}}}}
    arn = create(sm, name, [fail], params, PipelineDescription="first")
    with pytest.raises(ClientError) as exc:
        create(sm, name, [fail], params)
    assert _code(exc) == "ValidationException" and "already exists" in str(exc.value)
    d = sm.describe_pipeline(PipelineName=name)
    assert (d["PipelineArn"], d["PipelineStatus"], d["PipelineDescription"]) == \
        (arn, "Active", "first")
    with pytest.raises(ClientError) as exc:
        start(sm, name, PipelineParameters=[{"Name": "Nope", "Value": "1"}])
    assert _code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        start(sm, name, PipelineParameters=[{"Name": "Count", "Value": "two"}])
    assert _code(exc) == "ValidationException"

    execution = start(sm, name, PipelineParameters=[{"Name": "Count", "Value": "7"}])
    original = d["PipelineDefinition"]
    sm.update_pipeline(PipelineName=name, PipelineDescription="second",
                       PipelineDefinition=definition([fail], params[:1] + [
                           {"Name": "Count", "Type": "Integer", "DefaultValue": 3}]))
    done = wait(sm, execution)
    assert done["PipelineExecutionStatus"] == "Failed"
    assert done["FailureReason"] == f"hello 7 {execution.rsplit('/', 1)[-1]}"
    step = steps(sm, execution)["Stop"]
    assert step["StepStatus"] == "Failed"
    assert step["Metadata"]["Fail"]["ErrorMessage"] == done["FailureReason"]
    values = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=execution)
    assert sorted((p["Name"], p["Value"]) for p in values["PipelineParameters"]) == \
        [("Count", "7"), ("Message", "hello")]
    assert sm.describe_pipeline_definition_for_execution(
        PipelineExecutionArn=execution)["PipelineDefinition"] == original
    assert sm.describe_pipeline(PipelineName=name)["PipelineDescription"] == "second"
    versions = sm.list_pipeline_versions(PipelineName=name)["PipelineVersionSummaries"]
    assert [v["PipelineVersionId"] for v in versions] == [2, 1]
    assert versions[1]["LastExecutionPipelineExecutionArn"] == execution
    assert sm.describe_pipeline(PipelineName=name, PipelineVersionId=1)[
        "PipelineDefinition"] == original
    old = sm.start_pipeline_execution(PipelineName=name, PipelineVersionId=1,
                                      ClientRequestToken=TOKEN)["PipelineExecutionArn"]
    assert sm.describe_pipeline_execution(PipelineExecutionArn=old)["PipelineVersionId"] == 1
    assert wait(sm, old)["FailureReason"].startswith("hello 2 ")  # version 1's default
    with pytest.raises(ClientError) as exc:
        sm.describe_pipeline(PipelineName=name, PipelineVersionId=9)
    assert _code(exc) == "ResourceNotFound"
    listed = sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
    assert [e["PipelineExecutionArn"] for e in listed] == [old, execution]
    assert sm.delete_pipeline(PipelineName=name, ClientRequestToken=TOKEN)["PipelineArn"] == arn
    with pytest.raises(ClientError) as exc:
        sm.describe_pipeline(PipelineName=name)
    assert _code(exc) == "ResourceNotFound"


def _classic(bucket: str, code: str, group: str) -> list[dict[str, Any]]:
    """train -> condition on the metric -> (model, register, transform) or Fail."""
    check = {"Name": "Check", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "LessThanOrEqualTo",
                        "LeftValue": {"Get": "Steps.Train.FinalMetricDataList"
                                             "['validation:rmse'].Value"},
                        "RightValue": {"Get": "Parameters.MaxRmse"}}],
        "IfSteps": [model_step("Model", "Train"), {
            "Name": "Register", "Type": "RegisterModel", "Arguments": {
                "ModelPackageGroupName": group, "ModelApprovalStatus": "Approved",
                "InferenceSpecification": {
                    "Containers": [{"Image": XGBOOST_IMAGE, "ModelDataUrl": {
                        "Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}}],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["text/csv"]}}}],
        "ElseSteps": [{"Name": "TooWeak", "Type": "Fail", "Arguments": {"ErrorMessage": {
            "Std:Join": {"On": " ", "Values": ["rmse above", {"Get": "Parameters.MaxRmse"}]}}}}],
    }}
    return [training_step("Train", bucket, code, rmse="0.25"), check]


def test_classic_pattern_both_branches(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    name, group = unique("classic"), unique("grp")
    sm.create_model_package_group(ModelPackageGroupName=group)
    create(sm, name, _classic(bucket, source(s3, bucket), group),
           [{"Name": "MaxRmse", "Type": "Float", "DefaultValue": 0.5}])

    good = start(sm, name)
    assert wait(sm, good)["PipelineExecutionStatus"] == "Succeeded"
    ran = steps(sm, good)
    assert set(ran) == {"Train", "Check", "Model", "Register"}
    assert all(s["StepStatus"] == "Succeeded" for s in ran.values())
    job = ran["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[-1]
    trained = sm.describe_training_job(TrainingJobName=job)
    assert trained["TrainingJobStatus"] == "Completed"
    assert ran["Check"]["Metadata"]["Condition"]["Outcome"] == "true"
    model = sm.describe_model(ModelName=ran["Model"]["Metadata"]["Model"]["Arn"].rsplit(
        "/", 1)[-1])
    assert model["PrimaryContainer"]["ModelDataUrl"] == \
        trained["ModelArtifacts"]["S3ModelArtifacts"]
    package = sm.describe_model_package(
        ModelPackageName=ran["Register"]["Metadata"]["RegisterModel"]["Arn"])
    assert package["ModelApprovalStatus"] == "Approved"

    bad = start(sm, name, PipelineParameters=[{"Name": "MaxRmse", "Value": "0.1"}])
    done = wait(sm, bad)
    assert (done["PipelineExecutionStatus"], done["FailureReason"]) == \
        ("Failed", "rmse above 0.1")
    ran = steps(sm, bad)
    assert set(ran) == {"Train", "Check", "TooWeak"}
    assert ran["Check"]["Metadata"]["Condition"]["Outcome"] == "false"


def test_cache_hit_reuses_the_job(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    name = unique("cache")
    train = training_step("Train", bucket, source(s3, bucket),
                          CacheConfig={"Enabled": True, "ExpireAfter": "PT1H"})
    create(sm, name, [train, model_step("Model", "Train")])
    first, second = start(sm, name), None
    assert wait(sm, first)["PipelineExecutionStatus"] == "Succeeded"
    second = start(sm, name)
    assert wait(sm, second)["PipelineExecutionStatus"] == "Succeeded"
    a, b = steps(sm, first)["Train"], steps(sm, second)["Train"]
    assert b["CacheHitResult"]["SourcePipelineExecutionArn"] == first
    assert b["Metadata"]["TrainingJob"]["Arn"] == a["Metadata"]["TrainingJob"]["Arn"]
    assert "CacheHitResult" not in a


def test_failed_step_then_retry_execution(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    name = unique("retry")
    prefix = f"s3://{bucket}/{unique('later')}/"
    train = training_step("Train", bucket, source(s3, bucket))
    train["Arguments"]["InputDataConfig"] = [{"ChannelName": "train", "DataSource": {
        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": prefix,
                         "S3DataDistributionType": "FullyReplicated"}}}]
    create(sm, name, [train, model_step("Model", "Train")])
    execution = start(sm, name)
    done = wait(sm, execution)
    assert done["PipelineExecutionStatus"] == "Failed"
    assert done["FailureReason"].startswith("Step Train failed:")
    assert set(steps(sm, execution)) == {"Train"}
    s3.put_object(Bucket=bucket, Key=prefix.split("/", 3)[3] + "data.csv", Body=b"1,2\n")
    sm.retry_pipeline_execution(PipelineExecutionArn=execution, ClientRequestToken=TOKEN)
    assert wait(sm, execution)["PipelineExecutionStatus"] == "Succeeded"
    ran = steps(sm, execution)
    assert (ran["Train"]["AttemptCount"], ran["Model"]["AttemptCount"]) == (2, 1)


def test_stop_ends_the_running_job(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    name = unique("stop")
    create(sm, name, [training_step("Slow", bucket, source(s3, bucket), pause=120),
                      model_step("Model", "Slow")])
    execution = start(sm, name)
    wait_for(lambda: steps(sm, execution).get("Slow", {}).get("StepStatus") == "Executing")
    sm.stop_pipeline_execution(PipelineExecutionArn=execution, ClientRequestToken=TOKEN)
    assert wait(sm, execution)["PipelineExecutionStatus"] == "Stopped"
    slow = steps(sm, execution)["Slow"]
    job = slow["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[-1]
    assert sm.describe_training_job(TrainingJobName=job)["TrainingJobStatus"] == "Stopped"
    assert slow["StepStatus"] == "Stopped"
    with pytest.raises(ClientError) as exc:
        sm.stop_pipeline_execution(PipelineExecutionArn=execution, ClientRequestToken=TOKEN)
    assert _code(exc) == "ValidationException"


def test_parallelism_limit(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    name = unique("par")
    code = source(s3, bucket)
    create(sm, name, [training_step(f"T{i}", bucket, code, pause=0.5) for i in range(3)],
           ParallelismConfiguration={"MaxParallelExecutionSteps": 1})
    execution = start(sm, name)
    assert wait(sm, execution)["PipelineExecutionStatus"] == "Succeeded"
    spans = sorted((s["StartTime"], s["EndTime"]) for s in steps(sm, execution).values())
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))


def test_lambda_step_outputs_feed_a_condition(cove: Any) -> None:
    sm, lam = cove.client("sagemaker"), cove.client("lambda")
    function = unique("fn")
    lam.create_function(FunctionName=function, Runtime="python3.11", Role=ROLE,
                        Handler="lambda_function.handler", Code={"ZipFile": zip_of({
                            "lambda_function.py": "def handler(event, context):\n"
                            "    return {'status': 'ok', 'seen': event['who']}\n"})})
    arn = lam.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    name = unique("lam")
    create(sm, name, [
        {"Name": "Ask", "Type": "Lambda", "FunctionArn": arn,
         "Arguments": {"who": {"Get": "Execution.PipelineName"}},
         "OutputParameters": [{"OutputName": "status", "OutputType": "String"},
                              {"OutputName": "seen", "OutputType": "String"}]},
        {"Name": "IsOk", "Type": "Condition", "Arguments": {"Conditions": [{
            "Type": "Equals", "LeftValue": {"Get": "Steps.Ask.OutputParameters['status']"},
            "RightValue": "ok"}], "IfSteps": [], "ElseSteps": [
            {"Name": "NotOk", "Type": "Fail", "Arguments": {"ErrorMessage": "not ok"}}]}}])
    execution = start(sm, name)
    assert wait(sm, execution)["PipelineExecutionStatus"] == "Succeeded"
    ask = steps(sm, execution)["Ask"]["Metadata"]["Lambda"]
    assert {p["Name"]: p["Value"] for p in ask["OutputParameters"]} == \
        {"status": "ok", "seen": name}


def test_a_slow_lambda_step_does_not_hold_up_other_executions(cove: Any) -> None:
    """A Lambda step's function runs beside the engine: while one execution waits on a slow
    function, another runs to its end; the slow step shows Executing meanwhile."""
    sm, lam = cove.client("sagemaker"), cove.client("lambda")
    function = unique("slow")
    lam.create_function(FunctionName=function, Runtime="python3.11", Role=ROLE, Timeout=120,
                        Handler="lambda_function.handler", Code={"ZipFile": zip_of({
                            "lambda_function.py": "import time\n"
                            "def handler(event, context):\n"
                            "    time.sleep(90)\n    return {}\n"})})
    arn = lam.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    slow, quick = unique("slowp"), unique("quick")
    create(sm, slow, [{"Name": "Ask", "Type": "Lambda", "FunctionArn": arn, "Arguments": {}}])
    create(sm, quick, [{"Name": "F", "Type": "Fail", "Arguments": {"ErrorMessage": "done"}}])
    waiting = start(sm, slow)
    wait_for(lambda: steps(sm, waiting).get("Ask", {}).get("StepStatus") == "Executing",
             timeout=60)
    assert wait(sm, start(sm, quick), timeout=60)["PipelineExecutionStatus"] == "Failed"
    assert steps(sm, waiting)["Ask"]["StepStatus"] == "Executing"
    assert sm.describe_pipeline_execution(PipelineExecutionArn=waiting)[
        "PipelineExecutionStatus"] == "Executing"
    sm.stop_pipeline_execution(PipelineExecutionArn=waiting, ClientRequestToken=TOKEN)


def test_definition_from_s3(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    key = f"defs/{unique('d')}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=definition(
        [{"Name": "F", "Type": "Fail", "Arguments": {"ErrorMessage": "from s3"}}]).encode())
    name = unique("s3def")
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinitionS3Location={
        "Bucket": bucket, "ObjectKey": key})
    assert json.loads(sm.describe_pipeline(PipelineName=name)["PipelineDefinition"])[
        "Steps"][0]["Name"] == "F"


def test_start_with_the_same_token_starts_once(cove: Any) -> None:
    """A client's retry of StartPipelineExecution (same ClientRequestToken) gets the execution
    the first call started, not a second one; boto3 makes a new token for each call."""
    sm = cove.client("sagemaker")
    name = unique("once")
    create(sm, name, [{"Name": "F", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}])
    token = unique("token") + "-" * 20  # ClientRequestToken: 32 characters at least
    first, again = (sm.start_pipeline_execution(PipelineName=name, ClientRequestToken=token)[
        "PipelineExecutionArn"] for _ in range(2))
    other = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert first == again != other
    listed = sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
    assert sorted(e["PipelineExecutionArn"] for e in listed) == sorted([first, other])

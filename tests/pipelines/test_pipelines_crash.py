"""cove killed (SIGKILL, by itself at ``COVE_CRASH_AT``) between a step's effect and the
engine's record of it: after the restart the step is run again, and its effect is not doubled
where SageMaker makes it idempotent (a registered version); a Lambda step's function is
invoked again, as the README says (at least once)."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CoveServer
from tests.functions.conftest import zip_of
from tests.pipelines.helpers import create, start, steps, wait
from tests.pipelines.test_pipelines_principal import narrow_role, peek
from tests.training.helpers import ROLE, XGBOOST_IMAGE


@pytest.fixture
def crashing(tmp_path: Path) -> Iterator[CoveServer]:
    server = CoveServer(tmp_path / "home")
    yield server
    if server.proc and server.proc.poll() is None:
        server.stop()


def crash_at(server: CoveServer, point: str) -> None:
    server.extra_env = {"COVE_CRASH_AT": point}
    server.start()


def restart_after_crash(server: CoveServer) -> Any:
    assert server.proc is not None
    assert server.proc.wait(timeout=180) == -signal.SIGKILL, server.log_tail()
    server.extra_env = {}
    return server.start().client("sagemaker")


def test_register_model_survives_a_crash_once(crashing: CoveServer) -> None:
    crash_at(crashing, "pipelines.RegisterModel")
    sm, s3 = crashing.client("sagemaker"), crashing.client("s3")
    for bucket in ("mine", "theirs"):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="metrics.json", Body=b'{"accuracy": 0.9}')
    s3.put_object(Bucket="mine", Key="model.tar.gz", Body=b"not really a model")
    role = narrow_role(crashing, "mine")
    register = {"Name": "Register", "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": "crash-models", "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {
            "Containers": [{"Image": XGBOOST_IMAGE, "ModelDataUrl": "s3://mine/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}}}
    create(sm, "crash-register", [register, {**peek("s3://theirs/metrics.json"),
                                             "DependsOn": ["Register"]}], RoleArn=role)
    execution = start(sm, "crash-register")

    sm = restart_after_crash(crashing)
    done = wait(sm, execution)
    ran = steps(sm, execution)
    versions = sm.list_model_packages(ModelPackageGroupName="crash-models")[
        "ModelPackageSummaryList"]
    assert [v["ModelPackageVersion"] for v in versions] == [1]  # registered once
    assert ran["Register"]["StepStatus"] == "Succeeded"
    assert ran["Register"]["Metadata"]["RegisterModel"]["Arn"] == versions[0]["ModelPackageArn"]
    # after the restart the execution still acts for its role, under the same session
    session = f"assumed-role/{role.rsplit('/', 1)[-1]}/SageMaker-{execution.rsplit('/', 1)[-1]}"
    assert done["PipelineExecutionStatus"] == "Failed"
    assert ran["Peek"]["FailureReason"].startswith("AccessDenied")
    assert session in ran["Peek"]["FailureReason"]


#: Each invocation leaves an object of its own, so the test counts them.
COUNTING = """
import uuid
import boto3

def handler(event, context):
    boto3.client("s3").put_object(Bucket="calls", Key=f"call-{uuid.uuid4().hex}", Body=b"1")
    return {"answer": "42"}
"""


def test_lambda_step_runs_at_least_once(crashing: CoveServer) -> None:
    crash_at(crashing, "pipelines.Lambda")
    sm, s3, lam = (crashing.client(s) for s in ("sagemaker", "s3", "lambda"))
    s3.create_bucket(Bucket="calls")
    arn = lam.create_function(FunctionName="counting", Runtime="python3.11", Role=ROLE,
                              Handler="lambda_function.handler",
                              Code={"ZipFile": zip_of({"lambda_function.py": COUNTING})})[
        "FunctionArn"]
    create(sm, "crash-lambda", [{
        "Name": "Ask", "Type": "Lambda", "FunctionArn": arn, "Arguments": {},
        "OutputParameters": [{"OutputName": "answer", "OutputType": "String"}]}])
    execution = start(sm, "crash-lambda")

    sm = restart_after_crash(crashing)
    assert wait(sm, execution)["PipelineExecutionStatus"] == "Succeeded"
    ask = steps(sm, execution)["Ask"]
    assert ask["Metadata"]["Lambda"]["OutputParameters"] == [{"Name": "answer", "Value": "42"}]
    calls = crashing.client("s3").list_objects_v2(Bucket="calls").get("Contents", [])
    assert len(calls) == 2, json.dumps([c["Key"] for c in calls])  # before and after the crash

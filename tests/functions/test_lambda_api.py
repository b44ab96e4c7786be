"""The Lambda API through boto3: create, get, list, update, delete, invoke, errors."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import CoveServer
from tests.functions.conftest import ROLE, zip_of

ECHO = """
import os, uuid
calls = 0
TOKEN = uuid.uuid4().hex

def handler(event, context):
    global calls
    calls += 1
    print("got", event)
    return {"event": event, "calls": calls, "pid": TOKEN,
            "request_id": context.aws_request_id, "name": context.function_name,
            "version": context.function_version, "memory": context.memory_limit_in_mb,
            "arn": context.invoked_function_arn, "group": context.log_group_name,
            "stream": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
            "greeting": os.environ.get("GREETING")}
"""


def invoke(lam: Any, name: str, event: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}), **kwargs)
    return response, json.loads(response["Payload"].read())


def test_create_describe_invoke_and_warm_state(lam: Any, make_function: Any) -> None:
    name = make_function(ECHO, Environment={"Variables": {"GREETING": "hi"}}, MemorySize=256,
                         Timeout=5)
    config = lam.get_function_configuration(FunctionName=name)
    assert config["State"] == "Active" and config["LastUpdateStatus"] == "Successful"
    assert config["Runtime"] == "python3.11" and config["MemorySize"] == 256
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", config["LastModified"])
    assert config["FunctionArn"].endswith(f":function:{name}")
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["CodeSha256"] == config["CodeSha256"]

    response, first = invoke(lam, name, {"x": 1}, LogType="Tail")
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert first["event"] == {"x": 1} and first["greeting"] == "hi"
    assert first["name"] == name and first["memory"] == "256" and first["version"] == "$LATEST"
    assert first["arn"] == config["FunctionArn"] and first["group"] == f"/aws/lambda/{name}"
    assert 0 < first["remaining"] <= 5000
    tail = base64.b64decode(response["LogResult"]).decode()
    assert f"START RequestId: {first['request_id']}" in tail and "got {'x': 1}" in tail
    assert re.search(r"REPORT RequestId: \S+\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\t"
                     r"Memory Size: 256 MB\tMax Memory Used: \d+ MB\tInit Duration: [\d.]+ ms",
                     tail)
    _, second = invoke(lam, name, {"x": 2}, LogType="Tail")
    assert second["calls"] == 2 and second["pid"] == first["pid"]  # a warm worker
    assert second["request_id"] != first["request_id"]

    logs = _log_messages(lam, name, first["stream"])
    assert any(m.startswith("START RequestId: " + first["request_id"]) for m in logs)
    assert any(m.startswith("REPORT RequestId: " + second["request_id"]) for m in logs)


def _log_messages(lam: Any, name: str, stream: str) -> list[str]:
    logs = lam._endpoint.host  # the same server
    import boto3

    client = boto3.session.Session().client(
        "logs", endpoint_url=logs, region_name="us-east-1",
        aws_access_key_id=lam._request_signer._credentials.access_key,
        aws_secret_access_key=lam._request_signer._credentials.secret_key)
    deadline = time.monotonic() + 60
    while True:
        try:  # lines are written in batches: the group may not be there yet
            events = client.get_log_events(logGroupName=f"/aws/lambda/{name}",
                                           logStreamName=stream, startFromHead=True)["events"]
        except client.exceptions.ResourceNotFoundException:
            events = []
        messages = [e["message"] for e in events]
        if sum(m.startswith("REPORT") for m in messages) >= 2 or time.monotonic() > deadline:
            return messages
        time.sleep(0.1)


def test_code_sha_size_and_update(lam: Any, make_function: Any) -> None:
    name = make_function("def handler(e, c):\n    return 1\n")
    new = zip_of({"lambda_function.py": "def handler(e, c):\n    return 2\n"})
    updated = lam.update_function_code(FunctionName=name, ZipFile=new)
    assert updated["CodeSha256"] == base64.b64encode(hashlib.sha256(new).digest()).decode()
    assert updated["CodeSize"] == len(new)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert invoke(lam, name)[1] == 2
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"AB": "c"}},
                                      Timeout=7)
    config = lam.get_function_configuration(FunctionName=name)
    assert config["Timeout"] == 7 and config["Environment"]["Variables"] == {"AB": "c"}
    assert invoke(lam, name)[1] == 2
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {}})
    assert "Environment" not in lam.get_function_configuration(FunctionName=name)


def test_code_from_s3(lam: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="code.zip",
                  Body=zip_of({"app/main.py": "def run(e, c):\n    return 'from s3'\n"}))
    name = f"fn-{uuid.uuid4().hex[:10]}"
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                        Handler="app/main.run", Code={"S3Bucket": bucket, "S3Key": "code.zip"})
    assert invoke(lam, name)[1] == "from s3"
    with pytest.raises(ClientError) as missing:
        lam.create_function(FunctionName=name + "x", Runtime="python3.12", Role=ROLE,
                            Handler="a.b", Code={"S3Bucket": bucket, "S3Key": "nope.zip"})
    assert missing.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_list_with_pagination_and_delete(lam: Any, make_function: Any) -> None:
    names = {make_function("def handler(e, c):\n    return 0\n") for _ in range(3)}
    seen: set[str] = set()
    for page in lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2}):
        seen |= {f["FunctionName"] for f in page["Functions"]}
    assert names <= seen
    name = names.pop()
    lam.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as gone:
        lam.get_function(FunctionName=name)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_invocation_types_and_permissions(lam: Any, make_function: Any) -> None:
    name = make_function("def handler(e, c):\n    print('event ran', e)\n    return 1\n")
    assert lam.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204
    assert lam.invoke(FunctionName=name, InvocationType="Event",
                      Payload=b'{"async": true}')["StatusCode"] == 202
    statement = json.loads(lam.add_permission(
        FunctionName=name, StatementId="apigw", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn="arn:aws:execute-api:us-east-1:123456789012:abc/*")["Statement"])
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    policy = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["apigw"]
    with pytest.raises(ClientError) as twice:
        lam.add_permission(FunctionName=name, StatementId="apigw",
                           Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com")
    assert twice.value.response["Error"]["Code"] == "ResourceConflictException"


@pytest.mark.parametrize(("change", "code"), [
    ({"Runtime": "nodejs20.x"}, "InvalidParameterValueException"),
    ({"Handler": "nodot"}, "InvalidParameterValueException"),
    ({"MemorySize": 20480}, "InvalidParameterValueException"),
    ({"Timeout": 1000}, "InvalidParameterValueException"),
    ({"Code": {"ZipFile": b"not a zip"}}, "InvalidParameterValueException"),
    ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "InvalidParameterValueException"),
    ({"FunctionName": "bad name!"}, "InvalidParameterValueException"),
    ({"Layers": ["arn:aws:lambda:us-east-1:123456789012:layer:x:1"]},
     "InvalidParameterValueException"),
])
def test_bad_input_gets_aws_errors(lam: Any, change: dict[str, Any], code: str) -> None:
    params = {"FunctionName": f"fn-{uuid.uuid4().hex[:10]}", "Runtime": "python3.11",
              "Role": ROLE, "Handler": "lambda_function.handler",
              "Code": {"ZipFile": zip_of({"lambda_function.py": "def handler(e, c): pass"})},
              **change}
    with pytest.raises(ClientError) as failed:
        lam.create_function(**params)
    assert failed.value.response["Error"]["Code"] == code
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_conflicts_and_bad_invocations(lam: Any, make_function: Any, cove: CoveServer) -> None:
    name = make_function("def handler(e, c):\n    return 1\n")
    with pytest.raises(ClientError) as exists:
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                            Handler="lambda_function.handler",
                            Code={"ZipFile": zip_of({"lambda_function.py": ""})})
    assert exists.value.response["Error"]["Code"] == "ResourceConflictException"
    with pytest.raises(ClientError) as not_json:
        lam.invoke(FunctionName=name, Payload=b"{nope")
    assert not_json.value.response["Error"]["Code"] == "InvalidRequestContentException"
    with pytest.raises(ClientError) as missing:
        lam.invoke(FunctionName="no-such-function", Payload=b"{}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as versioned:
        lam.invoke(FunctionName=name, Qualifier="3", Payload=b"{}")
    assert versioned.value.response["Error"]["Code"] == "ResourceNotFoundException"

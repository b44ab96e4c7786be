"""Every operation cove serves maps to its IAM action and the resource it acts on.

The walk: for each operation of each service cove answers (read from the service objects the
server builds, and for S3 every operation of botocore's model, since authorisation comes before
routing), botocore serialises a request with the operation's required members, and the
authoriser's table says what that request needs.  Then a role that may do nothing is refused in
each protocol's own shape with AWS's wording, over real HTTP.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.model import OperationModel, Shape
from botocore.serialize import create_serializer
from starlette.datastructures import Headers

from cove.iam._actions import S3_ACTIONS, Access, Wire, accesses
from tests.conftest import REGION, CoveServer
from tests.iam.test_iam_api import account_trust, keys_client, name

ACCOUNT = "123456789012"
#: botocore model names of cove's signing names, where they differ.
MODEL_OF = {"apigateway": "apigatewayv2"}
#: IAM actions named otherwise than their operation (AWS's Service Authorization Reference).
RENAMED = {("lambda", "Invoke"): "lambda:InvokeFunction",
           ("lambda", "GetPolicy"): "lambda:GetPolicy"}
#: S3 operations cove can never tell apart: botocore sends them to other hosts (an Object
#: Lambda's, S3 Express's control endpoint), where the same path means something else.
ELSEWHERE = {"WriteGetObjectResponse", "ListDirectoryBuckets"}
SESSION = botocore.session.get_session()
#: SageMaker request members that name other things than the resource the operation acts on.
NOT_THE_RESOURCE = {"RoleArn", "ExecutionRoleArn"}


def _served() -> dict[str, set[str]]:
    """botocore model name -> the operations cove's service objects answer."""
    from cove.config import Config
    from cove.server import Platform, Runtime, build_app

    platform = Platform.open(Config(home=Path(tempfile.mkdtemp(prefix="cove-actions-"))),
                             Runtime("http://127.0.0.1:1", asyncio.new_event_loop()))
    try:
        edge, _ = build_app(platform, "http://127.0.0.1:1")
        served: dict[str, set[str]] = {"sagemaker-runtime": {"InvokeEndpoint"}}
        for service in edge.services:
            operations = getattr(service, "operations", None)
            if operations:
                served.setdefault(MODEL_OF.get(service.signing_name, service.signing_name),
                                  set()).update(operations)
        return served
    finally:
        platform.executor.shutdown()
        platform.db.close()


SERVED = _served()


def example(shape: Shape, member: str = "value") -> Any:
    """The smallest value of ``shape`` botocore accepts, recognisable by its member's name."""
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_tagged_union", False):  # exactly one member
            first = next(iter(shape.members))
            return {first: example(shape.members[first], first)}
        return {m: example(shape.members[m], m) for m in shape.required_members}
    if kind == "list":
        return [example(shape.member, member)] * max(1, shape.metadata.get("min", 0))
    if kind == "map":
        return {}
    if kind == "string":
        if shape.enum:
            return shape.enum[0]
        return ("v" + member.lower()).ljust(shape.metadata.get("min", 0), "x")
    if kind in ("integer", "long"):
        return max(1, int(shape.metadata.get("min", 1)))
    if kind in ("float", "double"):
        return 1.0
    if kind == "boolean":
        return False
    if kind == "blob":
        return b"x"
    if kind == "timestamp":
        return datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    raise AssertionError(f"no example for {kind}")


def wire_of(service: str, operation: str, params: dict[str, Any] | None = None) -> Wire:
    model = SESSION.get_service_model(service)
    op: OperationModel = model.operation_model(operation)
    if params is None:
        params = example(op.input_shape) if op.input_shape is not None else {}
    request = create_serializer(model.metadata["protocol"]).serialize_to_request(params, op)
    body = request["body"]
    if isinstance(body, dict):
        body = urlencode(body).encode()
    headers = {k.lower(): str(v) for k, v in request["headers"].items()}
    if model.metadata["protocol"] == "query":
        headers["content-type"] = "application/x-www-form-urlencoded"
    path, _, literals = request["url_path"].partition("?")  # ?tagging: in the path
    query = {k: v for k, _, v in (p.partition("=") for p in literals.split("&") if p)}
    if isinstance(request["query_string"], dict):
        query.update({k: str(v) for k, v in request["query_string"].items()})
    signing = model.metadata.get("signingName", model.metadata["endpointPrefix"])
    return Wire(signing, request["method"], unquote(path), query,
                Headers(headers), body if service != "s3" or operation == "DeleteObjects"
                else None, REGION, ACCOUNT)


def test_every_s3_operation_in_botocore_has_its_iam_action() -> None:
    model = SESSION.get_service_model("s3")
    assert set(model.operation_names) == set(S3_ACTIONS)


@pytest.mark.parametrize("operation", sorted(set(S3_ACTIONS) - ELSEWHERE))
def test_s3_requests_map_to_their_operations_action(operation: str) -> None:
    found = accesses(wire_of("s3", operation))
    assert found[0].action == S3_ACTIONS[operation]
    if operation in ("ListBuckets", "ListDirectoryBuckets"):
        assert found[0].resource == "*"
    elif operation == "DeleteObjects":
        assert [a.resource for a in found] == ["arn:aws:s3:::vbucket/vkey"]
    elif "{Key+}" in SESSION.get_service_model("s3").operation_model(
            operation).http["requestUri"]:
        assert found[0].resource == "arn:aws:s3:::vbucket/vkey"
    else:
        assert found[0].resource == "arn:aws:s3:::vbucket"


@pytest.mark.parametrize(("operation", "params", "expected"), [
    ("GetObject", {"Bucket": "b", "Key": "k", "VersionId": "v1"},
     [Access("s3:GetObjectVersion", "arn:aws:s3:::b/k")]),
    ("HeadObject", {"Bucket": "b", "Key": "k", "VersionId": "v1"},
     [Access("s3:GetObjectVersion", "arn:aws:s3:::b/k")]),
    ("DeleteObject", {"Bucket": "b", "Key": "k", "VersionId": "v1"},
     [Access("s3:DeleteObjectVersion", "arn:aws:s3:::b/k")]),
    ("GetObjectTagging", {"Bucket": "b", "Key": "k", "VersionId": "v1"},
     [Access("s3:GetObjectVersionTagging", "arn:aws:s3:::b/k")]),
    ("CopyObject", {"Bucket": "b", "Key": "k", "CopySource": "src/a b?versionId=v2"},
     [Access("s3:PutObject", "arn:aws:s3:::b/k"),
      Access("s3:GetObjectVersion", "arn:aws:s3:::src/a b")]),
    ("UploadPartCopy", {"Bucket": "b", "Key": "k", "CopySource": "src/a", "PartNumber": 1,
                        "UploadId": "u"},
     [Access("s3:PutObject", "arn:aws:s3:::b/k"), Access("s3:GetObject", "arn:aws:s3:::src/a")]),
    ("DeleteObjects", {"Bucket": "b", "Delete": {"Objects": [
        {"Key": "open/1"}, {"Key": "locked/2", "VersionId": "v"}, {"Key": "open/1"}]}},
     [Access("s3:DeleteObject", "arn:aws:s3:::b/open/1"),
      Access("s3:DeleteObjectVersion", "arn:aws:s3:::b/locked/2")]),
    ("ListObjectsV2", {"Bucket": "b", "Prefix": "data/", "Delimiter": "/"},
     [Access("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": ["data/"],
                                                 "s3:delimiter": ["/"]})]),
    ("ListObjectVersions", {"Bucket": "b"},
     [Access("s3:ListBucketVersions", "arn:aws:s3:::b", {"s3:prefix": [""]})]),
])
def test_s3_requests_that_need_more_than_their_operation(operation: str, params: dict[str, Any],
                                                         expected: list[Access]) -> None:
    assert accesses(wire_of("s3", operation, params)) == expected


def served(service: str) -> list[str]:
    return sorted(SERVED.get(service, ()))


@pytest.mark.parametrize("service", ["sagemaker", "logs", "lambda", "apigatewayv2", "sts", "iam",
                                     "sagemaker-runtime"])
def test_cove_serves_what_the_walk_walks(service: str) -> None:
    assert served(service), f"no operations of {service} found: the walk would prove nothing"


def _resource_members(op: OperationModel) -> list[str]:
    """Required members that name what the operation acts on: ``DescribeModel``'s ModelName,
    ``StopPipelineExecution``'s PipelineExecutionArn (not CreateEndpoint's EndpointConfigName)."""
    shape = op.input_shape
    if shape is None:
        return []
    return [m for m in shape.required_members if m not in NOT_THE_RESOURCE
            and m.endswith(("Name", "Arn")) and m.removesuffix("Name").removesuffix("Arn")
            in op.name]


@pytest.mark.parametrize("operation", served("sagemaker"))
def test_every_sagemaker_operation_maps_to_its_action_and_resource(operation: str) -> None:
    op = SESSION.get_service_model("sagemaker").operation_model(operation)
    found = accesses(wire_of("sagemaker", operation))
    assert found[0].action == f"sagemaker:{operation}"
    given = _resource_members(op)
    if given:  # it acts on one resource: a policy can name it (by the ARN it was given)
        assert found[0].resource.startswith(f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:") or (
            found[0].resource == "v" + given[0].lower()), (operation, found[0].resource)
    for extra in found[1:]:  # only the roles it passes
        assert extra.action == "iam:PassRole"


@pytest.mark.parametrize("operation", served("logs"))
def test_every_logs_operation_maps_to_its_action_and_log_group(operation: str) -> None:
    op = SESSION.get_service_model("logs").operation_model(operation)
    found = accesses(wire_of("logs", operation))
    assert [a.action for a in found] == [f"logs:{operation}"]
    if op.input_shape is not None and "logGroupName" in op.input_shape.required_members:
        assert found[0].resource.startswith(
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:vloggroupname")


@pytest.mark.parametrize("operation", served("lambda"))
def test_every_lambda_operation_maps_to_its_action_and_function(operation: str) -> None:
    found = accesses(wire_of("lambda", operation))
    assert found[0].action == RENAMED.get(("lambda", operation), f"lambda:{operation}")
    if operation != "ListFunctions":
        assert found[0].resource == (
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:vfunctionname")


@pytest.mark.parametrize("operation", served("apigatewayv2"))
def test_every_api_gateway_operation_maps_to_its_method_on_its_path(operation: str) -> None:
    """API Gateway's IAM model: apigateway:<HTTP method> on the API's resource path."""
    w = wire_of("apigatewayv2", operation)
    assert accesses(w) == [Access(f"apigateway:{w.method}",
                                  f"arn:aws:apigateway:{REGION}::{w.path}")]


@pytest.mark.parametrize("operation", served("iam"))
def test_every_iam_operation_maps_to_its_action(operation: str) -> None:
    op = SESSION.get_service_model("iam").operation_model(operation)
    found = accesses(wire_of("iam", operation))
    assert [a.action for a in found] == [f"iam:{operation}"]
    required = op.input_shape.required_members if op.input_shape is not None else []
    if "RoleName" in required:
        assert found[0].resource == f"arn:aws:iam::{ACCOUNT}:role/vrolename"
    elif "PolicyArn" in required:
        assert found[0].resource.startswith("vpolicyarn")


def test_sts_and_the_runtime_map_to_their_actions() -> None:
    assert served("sts") == ["AssumeRole", "GetCallerIdentity"]
    assert accesses(wire_of("sts", "GetCallerIdentity")) == []  # AWS answers it to anyone
    assert [(a.action, a.resource) for a in accesses(wire_of("sts", "AssumeRole"))] == [
        ("sts:AssumeRole", "vrolearnxxxxxxxxxxxx")]
    assert accesses(wire_of("sagemaker-runtime", "InvokeEndpoint")) == [
        Access("sagemaker:InvokeEndpoint",
               f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/vendpointname")]


#: One call per service and protocol, the refusal it gets from a role that may do nothing.
DENIALS: list[tuple[str, Any, str, int, str, str]] = [
    ("s3", lambda c: c.get_object(Bucket="b", Key="k"), "AccessDenied", 403, "s3:GetObject",
     "arn:aws:s3:::b/k"),
    ("sagemaker", lambda c: c.describe_model(ModelName="Model-A"), "AccessDeniedException", 400,
     "sagemaker:DescribeModel", f"arn:aws:sagemaker:{REGION}:ACCOUNT:model/model-a"),
    ("sagemaker-runtime", lambda c: c.invoke_endpoint(EndpointName="ep", Body=b"1"),
     "AccessDeniedException", 403, "sagemaker:InvokeEndpoint",
     f"arn:aws:sagemaker:{REGION}:ACCOUNT:endpoint/ep"),
    ("logs", lambda c: c.describe_log_streams(logGroupName="/g"), "AccessDeniedException", 400,
     "logs:DescribeLogStreams", f"arn:aws:logs:{REGION}:ACCOUNT:log-group:/g"),
    ("lambda", lambda c: c.invoke(FunctionName="f"), "AccessDeniedException", 403,
     "lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:ACCOUNT:function:f"),
    ("apigatewayv2", lambda c: c.get_apis(), "AccessDeniedException", 403, "apigateway:GET",
     f"arn:aws:apigateway:{REGION}::/v2/apis"),
    ("iam", lambda c: c.get_role(RoleName="r"), "AccessDenied", 403, "iam:GetRole",
     "arn:aws:iam::ACCOUNT:role/r"),
    ("sts", lambda c: c.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
                                    RoleSessionName="ss"),
     "AccessDenied", 403, "sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/r"),
]


def test_a_role_that_may_do_nothing_is_refused_in_each_services_words(
        cove: CoveServer) -> None:
    iam, sts = cove.client("iam"), cove.client("sts")
    account = sts.get_caller_identity()["Account"]
    role = name("nothing")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(account_trust(account)))
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}",
                            RoleSessionName="walker")["Credentials"]
    arn = f"arn:aws:sts::{account}:assumed-role/{role}/walker"
    for service, call, code, status, action, resource in DENIALS:
        with pytest.raises(ClientError) as info:
            call(keys_client(cove, service, creds))
        response = info.value.response
        assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (
            code, status), service
        assert response["Error"]["Message"] == (
            f"User: {arn} is not authorized to perform: {action} on resource: "
            f"{resource.replace('ACCOUNT', account)} because no identity-based policy allows "
            f"the {action} action"), service


def test_delete_objects_cannot_pass_an_explicit_deny(cove: CoveServer) -> None:
    """DeleteObjects names its keys in its body: each is authorised as a DeleteObject would be,
    so a Deny on some keys holds however they are deleted."""
    iam, sts, s3 = cove.client("iam"), cove.client("sts"), cove.client("s3")
    account = sts.get_caller_identity()["Account"]
    bucket, role = name("deny"), name("deleter")
    s3.create_bucket(Bucket=bucket)
    for key in ("open/1", "locked/2"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(account_trust(account)))
    iam.put_role_policy(RoleName=role, PolicyName="delete", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:DeleteObject",
             "Resource": f"arn:aws:s3:::{bucket}/*"},
            {"Effect": "Deny", "Action": "s3:DeleteObject",
             "Resource": f"arn:aws:s3:::{bucket}/locked/*"}]}))
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}",
                            RoleSessionName="deleter")["Credentials"]
    own = keys_client(cove, "s3", creds)
    with pytest.raises(ClientError) as info:
        own.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "open/1"},
                                                              {"Key": "locked/2"}]})
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    assert f"arn:aws:s3:::{bucket}/locked/2 with an explicit deny" in (
        info.value.response["Error"]["Message"])
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == [
        "locked/2", "open/1"]
    answer = own.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "open/1"}]})
    assert [d["Key"] for d in answer["Deleted"]] == ["open/1"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["locked/2"]


def test_a_request_that_looks_like_two_operations_needs_both() -> None:
    """``PUT ?acl&website``: cove's S3 answers one of them; the role must be allowed both."""
    w = wire_of("s3", "PutBucketAcl", {"Bucket": "b"})
    both = Wire(w.signing_name, w.method, w.path, {**w.query, "website": ""}, w.headers, None,
                w.region, w.account)
    assert {a.action for a in accesses(both)} == {"s3:PutBucketAcl", "s3:PutBucketWebsite"}


def test_cove_answers_each_s3_subresource_as_the_operation_authorised() -> None:
    """Every subresource in botocore's S3 model is one cove's S3 answers as that operation, or
    one it refuses (NotImplemented): never one it ignores and answers as another operation
    (``GET ?policyStatus`` listed the bucket while the role was asked GetBucketPolicyStatus)."""
    from cove.objects._s3api import UNSUPPORTED_SUBRESOURCES

    handled = {"acl", "attributes", "delete", "list-type", "location", "publicAccessBlock",
               "ownershipControls",
               "uploads", "versioning",
               "versions", "website", "select-type"}  # (select-type only with ?select)
    model = SESSION.get_service_model("s3")
    literals = {part.partition("=")[0] for name in model.operation_names
                for part in model.operation_model(name).http["requestUri"].partition("?")[2]
                .split("&") if part}
    assert literals - handled - set(UNSUPPORTED_SUBRESOURCES) == set()


@pytest.mark.parametrize("identifier", [
    "/secret", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/secret",
    f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/secret:*"])
def test_a_log_group_named_by_its_identifier_is_that_group(identifier: str) -> None:
    """GetLogEvents takes logGroupIdentifier (a name or an ARN) instead of logGroupName: a Deny
    on the group must hold either way."""
    w = wire_of("logs", "GetLogEvents", {"logGroupIdentifier": identifier, "logStreamName": "s"})
    assert accesses(w) == [Access("logs:GetLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:"
                                                       "log-group:/secret:log-stream:s")]


@pytest.mark.parametrize("function", [
    "secret", f"{ACCOUNT}:function:secret", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:secret",
    "arn:aws:lambda:eu-west-1:999999999999:function:secret",
    f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:secret:$LATEST"])
def test_a_function_named_any_way_is_that_function(function: str) -> None:
    """cove's Lambda finds a function by its name however FunctionName spells it (partial or
    full ARN, any account or region, $LATEST): the permission asked is for that function."""
    w = wire_of("lambda", "GetFunction", {"FunctionName": function})
    assert accesses(w) == [Access("lambda:GetFunction",
                                  f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:secret")]


def test_a_sagemaker_arn_of_another_account_or_region_is_cove_s_own() -> None:
    w = wire_of("sagemaker", "DescribeModelPackageGroup", {
        "ModelPackageGroupName": "arn:aws:sagemaker:eu-west-1:999999999999:"
                                 "model-package-group/Secret"})
    assert accesses(w)[0].resource == (
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/secret")

"""IAM and STS through boto3 against a real server: roles, policies, the simulator, AssumeRole,
and what an assumed role's keys may then do."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.conftest import REGION, CoveServer

SAGEMAKER_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


def account_trust(account: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "sts:AssumeRole"}]}


@pytest.fixture
def iam(cove: CoveServer) -> Any:
    return cove.client("iam")


@pytest.fixture
def sts(cove: CoveServer) -> Any:
    return cove.client("sts")


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def keys_client(cove: CoveServer, service: str, creds: dict[str, Any]) -> Any:
    return boto3.session.Session().client(
        service, endpoint_url=cove.url, region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
        config=BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def test_default_role_exists_with_its_documented_policy(iam: Any, sts: Any) -> None:
    role = iam.get_role(RoleName="CoveExecutionRole")["Role"]
    account = sts.get_caller_identity()["Account"]
    assert role["Arn"] == f"arn:aws:iam::{account}:role/CoveExecutionRole"
    services = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
    assert set(services) == {"sagemaker.amazonaws.com", "lambda.amazonaws.com"}
    assert iam.list_role_policies(RoleName="CoveExecutionRole")["PolicyNames"] == [
        "CoveExecutionPolicy"]
    doc = iam.get_role_policy(RoleName="CoveExecutionRole",
                              PolicyName="CoveExecutionPolicy")["PolicyDocument"]
    assert any("s3:*" in s["Action"] for s in doc["Statement"])


def test_role_lifecycle(iam: Any) -> None:
    role = name("role")
    created = iam.create_role(RoleName=role, Path="/team/", Description="d",
                              AssumeRolePolicyDocument=json.dumps(SAGEMAKER_TRUST))["Role"]
    assert created["Arn"].endswith(f":role/team/{role}") and created["RoleId"].startswith("AROA")
    with pytest.raises(ClientError) as info:
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(SAGEMAKER_TRUST))
    assert code(info) == "EntityAlreadyExists"
    assert role in [r["RoleName"] for r in iam.list_roles(PathPrefix="/team/")["Roles"]]
    paginated = [r["RoleName"] for page in iam.get_paginator("list_roles").paginate(
        PaginationConfig={"PageSize": 1}) for r in page["Roles"]]
    assert role in paginated and "CoveExecutionRole" in paginated

    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}
    iam.put_role_policy(RoleName=role, PolicyName="read", PolicyDocument=json.dumps(policy))
    assert iam.get_role_policy(RoleName=role, PolicyName="read")["PolicyDocument"] == policy
    iam.attach_role_policy(RoleName=role,
                           PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert attached == [{"PolicyName": "AmazonS3ReadOnlyAccess",
                         "PolicyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}]

    with pytest.raises(ClientError) as info:
        iam.delete_role(RoleName=role)
    assert code(info) == "DeleteConflict"
    iam.delete_role_policy(RoleName=role, PolicyName="read")
    iam.detach_role_policy(RoleName=role,
                           PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(SAGEMAKER_TRUST))
    iam.delete_role(RoleName=role)
    with pytest.raises(ClientError) as info:
        iam.get_role(RoleName=role)
    assert code(info) == "NoSuchEntity"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert role in info.value.response["Error"]["Message"]


def test_managed_policies(iam: Any) -> None:
    aws = iam.list_policies(Scope="AWS")["Policies"]
    names = {p["PolicyName"] for p in aws}
    assert {"AmazonSageMakerFullAccess", "AmazonS3FullAccess", "AmazonS3ReadOnlyAccess",
            "CloudWatchLogsFullAccess", "AWSLambdaBasicExecutionRole"} <= names
    basic = iam.get_policy(
        PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")["Policy"]
    version = iam.get_policy_version(PolicyArn=basic["Arn"],
                                     VersionId=basic["DefaultVersionId"])["PolicyVersion"]
    assert "logs:PutLogEvents" in version["Document"]["Statement"][0]["Action"]

    mine = name("mine")
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}
    created = iam.create_policy(PolicyName=mine, PolicyDocument=json.dumps(doc))["Policy"]
    assert created["Arn"].endswith(f":policy/{mine}") and created["AttachmentCount"] == 0
    assert mine in {p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]}
    assert mine not in names
    got = iam.get_policy_version(PolicyArn=created["Arn"], VersionId="v1")["PolicyVersion"]
    assert got["Document"] == doc and got["IsDefaultVersion"]
    with pytest.raises(ClientError) as info:
        iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy")
    assert code(info) == "NoSuchEntity"


@pytest.mark.parametrize(("document", "says"), [
    ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
      "Resource": "*", "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}}]},
     "DateGreaterThan"),
    ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
      "Resource": "*", "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1"}}}]},
     "aws:SourceVpc"),
    ("{not json", "JSON"),
])
def test_unsupported_policies_are_refused_not_ignored(iam: Any, document: Any,
                                                      says: str) -> None:
    text = document if isinstance(document, str) else json.dumps(document)
    for call in (lambda: iam.put_role_policy(RoleName="CoveExecutionRole", PolicyName="x",
                                             PolicyDocument=text),
                 lambda: iam.create_policy(PolicyName=name("bad"), PolicyDocument=text)):
        with pytest.raises(ClientError) as info:
            call()
        assert code(info) == "MalformedPolicyDocument" and says in info.value.response[
            "Error"]["Message"]
    assert "x" not in iam.list_role_policies(RoleName="CoveExecutionRole")["PolicyNames"]


def test_simulate_principal_policy_for_the_default_and_a_named_role(iam: Any,
                                                                    sts: Any) -> None:
    account = sts.get_caller_identity()["Account"]
    default = f"arn:aws:iam::{account}:role/CoveExecutionRole"
    results = iam.simulate_principal_policy(
        PolicySourceArn=default, ActionNames=["sagemaker:CreateTrainingJob", "s3:GetObject",
                                              "iam:CreateRole"])["EvaluationResults"]
    assert [r["EvalDecision"] for r in results] == ["allowed", "allowed", "implicitDeny"]

    role = name("narrow")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(SAGEMAKER_TRUST))
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::data/*"},
            {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::data",
             "Condition": {"StringLike": {"s3:prefix": "public/*"}}}]}))
    results = iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{account}:role/{role}",
        ActionNames=["s3:GetObject", "s3:DeleteObject"],
        ResourceArns=["arn:aws:s3:::data/x", "arn:aws:s3:::other/x"])["EvaluationResults"]
    assert [(r["EvalActionName"], r["EvalResourceName"], r["EvalDecision"]) for r in results] \
        == [("s3:GetObject", "arn:aws:s3:::data/x", "allowed"),
            ("s3:GetObject", "arn:aws:s3:::other/x", "implicitDeny"),
            ("s3:DeleteObject", "arn:aws:s3:::data/x", "explicitDeny"),
            ("s3:DeleteObject", "arn:aws:s3:::other/x", "explicitDeny")]
    listing = [iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{account}:role/{role}", ActionNames=["s3:ListBucket"],
        ResourceArns=["arn:aws:s3:::data"], ContextEntries=[{
            "ContextKeyName": "s3:prefix", "ContextKeyValues": [prefix],
            "ContextKeyType": "string"}])["EvaluationResults"][0]["EvalDecision"]
        for prefix in ("public/a", "private/a")]
    assert listing == ["allowed", "implicitDeny"]
    with pytest.raises(ClientError) as info:
        iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{account}:role/nobody",
                                      ActionNames=["s3:GetObject"])
    assert code(info) == "NoSuchEntity"


def test_simulate_custom_policy(iam: Any) -> None:
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sagemaker:Describe*", "Resource": "*"}]})
    results = iam.simulate_custom_policy(
        PolicyInputList=[doc], ActionNames=["sagemaker:DescribeModel", "sagemaker:CreateModel"]
    )["EvaluationResults"]
    assert [r["EvalDecision"] for r in results] == ["allowed", "implicitDeny"]
    assert results[0]["MatchedStatements"][0]["SourcePolicyId"]


def test_assume_role_checks_the_trust_policy_and_bounds_the_keys(
        cove: CoveServer, iam: Any, sts: Any, s3: Any) -> None:
    account = sts.get_caller_identity()["Account"]
    role = name("reader")
    bucket, other = name("data"), name("other")
    for b in (bucket, other):
        s3.create_bucket(Bucket=b)
        s3.put_object(Bucket=b, Key="k", Body=b"v")
    # a role only sagemaker may assume: the account may not
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(SAGEMAKER_TRUST))
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="s1")
    assert code(info) == "AccessDenied"
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(
        account_trust(account)))
    iam.put_role_policy(RoleName=role, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
        ]}))
    answer = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}",
                             RoleSessionName="s1", DurationSeconds=900)
    creds = answer["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert answer["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account}:assumed-role/{role}/s1"

    me = keys_client(cove, "sts", creds).get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{account}:assumed-role/{role}/s1"
    assert me["UserId"].startswith("AROA") and me["UserId"].endswith(":s1")
    role_s3 = keys_client(cove, "s3", creds)
    assert role_s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    for denied in (lambda: role_s3.get_object(Bucket=other, Key="k"),
                   lambda: role_s3.put_object(Bucket=bucket, Key="k2", Body=b"x"),
                   lambda: role_s3.list_buckets()):
        with pytest.raises(ClientError) as info:
            denied()
        assert code(info) == "AccessDenied"
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as info:
        role_s3.get_object(Bucket=other, Key="k")
    assert info.value.response["Error"]["Message"] == (
        f"User: arn:aws:sts::{account}:assumed-role/{role}/s1 is not authorized to perform: "
        f"s3:GetObject on resource: arn:aws:s3:::{other}/k because no identity-based policy "
        "allows the s3:GetObject action")
    with pytest.raises(ClientError) as info:
        keys_client(cove, "sagemaker", creds).list_models()
    assert code(info) == "AccessDeniedException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as info:
        keys_client(cove, "lambda", creds).list_functions()
    assert code(info) == "AccessDeniedException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as info:
        keys_client(cove, "iam", creds).create_role(
            RoleName=name("escalate"), AssumeRolePolicyDocument=json.dumps(SAGEMAKER_TRUST))
    assert code(info) == "AccessDenied"

    # a policy change applies to live keys at once
    iam.delete_role_policy(RoleName=role, PolicyName="read")
    with pytest.raises(ClientError) as info:
        role_s3.get_object(Bucket=bucket, Key="k")
    assert code(info) == "AccessDenied"


def test_assume_role_refuses_bad_requests(iam: Any, sts: Any) -> None:
    account = sts.get_caller_identity()["Account"]
    default = f"arn:aws:iam::{account}:role/CoveExecutionRole"
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/missing", RoleSessionName="s2")
    assert code(info) == "NoSuchEntity"
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=default, RoleSessionName="s2", DurationSeconds=99999)
    assert code(info) == "ValidationError"
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=default, RoleSessionName="s2", Policy='{"Statement": []}')
    assert code(info) == "ValidationError" and "not supported" in info.value.response[
        "Error"]["Message"]
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn="arn:aws:s3:::not-a-role-arn", RoleSessionName="s2")
    assert code(info) == "InvalidInput"


def test_iam_state_survives_a_restart(fresh_cove: CoveServer) -> None:
    iam = fresh_cove.client("iam")
    iam.create_role(RoleName="kept", AssumeRolePolicyDocument=json.dumps(SAGEMAKER_TRUST))
    iam.attach_role_policy(RoleName="kept",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    fresh_cove.restart()
    iam = fresh_cove.client("iam")
    assert iam.get_role(RoleName="kept")["Role"]["RoleName"] == "kept"
    assert [p["PolicyName"] for p in iam.list_attached_role_policies(
        RoleName="kept")["AttachedPolicies"]] == ["AmazonS3FullAccess"]


def test_the_readme_narrowing_example_works(fresh_cove: CoveServer, tmp_path: Any) -> None:
    from tests.test_readme import block, run_python

    run_python(fresh_cove, tmp_path, block("python", "TrainOnSales")
               + "\nprint(sorted(iam.get_role_policy(RoleName='TrainOnSales', "
                 "PolicyName='its-data')['PolicyDocument']['Statement'][0]))\n")
    iam = fresh_cove.client("iam")
    decisions = [r["EvalDecision"] for r in iam.simulate_principal_policy(
        PolicySourceArn=iam.get_role(RoleName="TrainOnSales")["Role"]["Arn"],
        ActionNames=["s3:GetObject"],
        ResourceArns=["arn:aws:s3:::sales/train/a.csv", "arn:aws:s3:::sales/secret.csv"])[
        "EvaluationResults"]]
    assert decisions == ["allowed", "implicitDeny"]


def test_a_role_key_cannot_copy_what_it_cannot_read(cove: CoveServer, iam: Any, sts: Any,
                                                    s3: Any) -> None:
    account = sts.get_caller_identity()["Account"]
    bucket, role = name("copy"), name("copier")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="secret/k", Body=b"private")
    s3.put_object(Bucket=bucket, Key="out/mine", Body=b"mine")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(account_trust(account)))
    iam.put_role_policy(RoleName=role, PolicyName="out", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
             "Resource": f"arn:aws:s3:::{bucket}/out/*"}]}))
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}",
                            RoleSessionName="copier")["Credentials"]
    own = keys_client(cove, "s3", creds)
    own.copy_object(Bucket=bucket, Key="out/copy", CopySource=f"{bucket}/out/mine")
    for attempt in (
            lambda: own.copy_object(Bucket=bucket, Key="out/stolen",
                                    CopySource=f"{bucket}/secret/k"),
            lambda: own.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "out/copy"}]})):
        with pytest.raises(ClientError) as info:
            attempt()
        assert code(info) == "AccessDenied"
    presigned = own.generate_presigned_url("get_object", Params={"Bucket": bucket,
                                                                 "Key": "secret/k"})
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(presigned, timeout=30)
    assert http.value.code == 403
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="out/stolen")
    assert s3.get_object(Bucket=bucket, Key="out/copy")["Body"].read() == b"mine"

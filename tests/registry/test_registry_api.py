"""The model registry through boto3: groups, numbered versions, approval, listing, Search,
tags, models and endpoints made from approved packages, and a restart that keeps it all."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.hosting.test_endpoints import XGB_IMAGE, csv_rows, xgb_model
from tests.training.helpers import ROLE, unique


def _spec(url: str) -> dict[str, Any]:
    return {"Containers": [{"Image": XGB_IMAGE, "ModelDataUrl": url}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"],
            "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"]}


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_group_lifecycle_and_errors(cove: Any) -> None:
    sm = cove.client("sagemaker")
    name = unique("grp")
    arn = sm.create_model_package_group(ModelPackageGroupName=name,
                                        ModelPackageGroupDescription="churn models",
                                        Tags=[{"Key": "team", "Value": "ml"}]
                                        )["ModelPackageGroupArn"]
    assert arn.endswith(f":model-package-group/{name}")
    d = sm.describe_model_package_group(ModelPackageGroupName=name)
    assert (d["ModelPackageGroupStatus"], d["ModelPackageGroupDescription"]) == \
        ("Completed", "churn models")
    assert sm.describe_model_package_group(ModelPackageGroupName=arn)["ModelPackageGroupName"] \
        == name
    with pytest.raises(ClientError) as exc:
        sm.create_model_package_group(ModelPackageGroupName=name)
    assert _error(exc)[0] == "ValidationException" and "already exists" in _error(exc)[1]
    listed = sm.list_model_package_groups(NameContains=name)["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in listed] == [name]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    sm.delete_model_package_group(ModelPackageGroupName=name)
    with pytest.raises(ClientError) as exc:
        sm.describe_model_package_group(ModelPackageGroupName=name)
    assert "Could not find" in _error(exc)[1]


def test_versions_approval_listing_and_delete(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    url, _, _ = xgb_model(s3, bucket)
    group = unique("grp")
    sm.create_model_package_group(ModelPackageGroupName=group)
    arns = [sm.create_model_package(
        ModelPackageGroupName=group, InferenceSpecification=_spec(url),
        ModelPackageDescription=f"v{i}", CustomerMetadataProperties={"run": str(i)},
        ModelMetrics={"ModelQuality": {"Statistics": {
            "ContentType": "application/json", "S3Uri": f"s3://{bucket}/eval-{i}.json"}}},
    )["ModelPackageArn"] for i in (1, 2)]
    assert [a.rsplit("/", 2)[-2:] for a in arns] == [[group, "1"], [group, "2"]]
    d = sm.describe_model_package(ModelPackageName=arns[1])
    assert (d["ModelPackageName"], d["ModelPackageGroupName"], d["ModelPackageVersion"]) == \
        (group, group, 2)
    assert (d["ModelPackageStatus"], d["ModelApprovalStatus"]) == \
        ("Completed", "PendingManualApproval")
    assert d["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == url
    assert d["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith("eval-2.json")

    sm.update_model_package(ModelPackageArn=arns[0], ModelApprovalStatus="Approved",
                            ApprovalDescription="beats the baseline",
                            CustomerMetadataProperties={"owner": "ana"},
                            CustomerMetadataPropertiesToRemove=["run"])
    d = sm.describe_model_package(ModelPackageName=arns[0])
    assert (d["ModelApprovalStatus"], d["ApprovalDescription"]) == \
        ("Approved", "beats the baseline")
    assert d["CustomerMetadataProperties"] == {"owner": "ana"}
    assert d["LastModifiedTime"] > d["CreationTime"]

    listed = sm.list_model_packages(ModelPackageGroupName=group, SortBy="CreationTime",
                                    SortOrder="Ascending")["ModelPackageSummaryList"]
    assert [p["ModelPackageVersion"] for p in listed] == [1, 2]
    approved = sm.list_model_packages(ModelPackageGroupName=group,
                                      ModelApprovalStatus="Approved")["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in approved] == [arns[0]]
    page = sm.list_model_packages(ModelPackageGroupName=group, MaxResults=1)
    rest = sm.list_model_packages(ModelPackageGroupName=group, NextToken=page["NextToken"])
    assert len(page["ModelPackageSummaryList"]) == len(rest["ModelPackageSummaryList"]) == 1
    unversioned = sm.list_model_packages(NameContains=group)["ModelPackageSummaryList"]
    assert unversioned == []  # SageMaker lists unversioned packages unless told otherwise
    both = sm.list_model_packages(NameContains=group, ModelPackageType="Both")
    assert len(both["ModelPackageSummaryList"]) == 2

    with pytest.raises(ClientError) as exc:
        sm.delete_model_package_group(ModelPackageGroupName=group)
    assert _error(exc)[0] == "ConflictException"
    for arn in arns:
        sm.delete_model_package(ModelPackageName=arn)
    sm.delete_model_package_group(ModelPackageGroupName=group)


def test_bad_packages_are_refused_and_create_nothing(cove: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    group = unique("grp")
    sm.create_model_package_group(ModelPackageGroupName=group)
    missing = f"s3://{bucket}/no/such/model.tar.gz"
    cases = [
        dict(ModelPackageGroupName=group, InferenceSpecification=_spec(missing)),
        dict(ModelPackageGroupName=group, ModelPackageName=unique("pkg")),
        dict(ModelPackageGroupName=unique("nogroup"), InferenceSpecification={
            "Containers": [{"Image": XGB_IMAGE}], "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"]}),
        dict(ModelPackageGroupName=group, ModelApprovalStatus="Maybe"),
    ]
    for request in cases:
        with pytest.raises(ClientError) as exc:
            sm.create_model_package(**request)
        assert _error(exc)[0] == "ValidationException", request
    assert sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"] == []
    with pytest.raises(ClientError) as exc:
        sm.update_model_package(ModelPackageArn=f"arn:aws:sagemaker:us-east-1:000000000000:"
                                f"model-package/{group}/9", ModelApprovalStatus="Approved")
    assert "Could not find" in _error(exc)[1]


def test_client_token_makes_create_idempotent(cove: Any, s3: Any, bucket: str) -> None:
    """A retried CreateModelPackage (same ClientToken) answers the version it made; a new
    token makes a new version, and a token of one group does not reach into another."""
    sm = cove.client("sagemaker")
    s3.put_object(Bucket=bucket, Key="token/model.tar.gz", Body=b"weights")
    group, other = unique("grp"), unique("grp")
    for name in (group, other):
        sm.create_model_package_group(ModelPackageGroupName=name)
    spec = _spec(f"s3://{bucket}/token/model.tar.gz")
    first, again, new = (sm.create_model_package(
        ModelPackageGroupName=group, InferenceSpecification=spec, ClientToken=token)[
        "ModelPackageArn"] for token in ("retry-me", "retry-me", "another"))
    assert first == again and new != first
    elsewhere = sm.create_model_package(ModelPackageGroupName=other, InferenceSpecification=spec,
                                        ClientToken="retry-me")["ModelPackageArn"]
    assert elsewhere.endswith(f"{other}/1")
    versions = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert sorted(v["ModelPackageVersion"] for v in versions) == [1, 2]
    # boto3 fills in a fresh token for every call: plain calls make a version each
    sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec)
    sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec)
    assert len(sm.list_model_packages(ModelPackageGroupName=group)[
        "ModelPackageSummaryList"]) == 4


def test_only_an_approved_version_deploys(cove: Any, s3: Any, bucket: str) -> None:
    import xgboost as xgb

    sm, runtime = cove.client("sagemaker"), cove.client("sagemaker-runtime")
    url, booster, X = xgb_model(s3, bucket, seed=3)
    group = unique("grp")
    sm.create_model_package_group(ModelPackageGroupName=group)
    arn = sm.create_model_package(ModelPackageGroupName=group,
                                  InferenceSpecification=_spec(url))["ModelPackageArn"]
    model = unique("pkgmodel")
    with pytest.raises(ClientError) as exc:
        sm.create_model(ModelName=model, ExecutionRoleArn=ROLE,
                        PrimaryContainer={"ModelPackageName": arn})
    assert "only an Approved version" in _error(exc)[1]
    assert sm.list_models(NameContains=model)["Models"] == []

    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE,
                    PrimaryContainer={"ModelPackageName": arn})
    container = sm.describe_model(ModelName=model)["PrimaryContainer"]
    assert (container["ModelPackageName"], container["ModelDataUrl"]) == (arn, url)
    sm.create_endpoint_config(EndpointConfigName=model, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=model, EndpointConfigName=model)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=model,
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    body = runtime.invoke_endpoint(EndpointName=model, ContentType="text/csv",
                                   Body=csv_rows(X[:5]))["Body"].read().decode()
    got = np.array([float(v) for v in body.replace("\n", ",").split(",") if v])
    np.testing.assert_allclose(got, booster.predict(xgb.DMatrix(X[:5])), rtol=1e-5)
    sm.delete_endpoint(EndpointName=model)


def test_search_model_packages_and_groups(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    url, _, _ = xgb_model(s3, bucket)
    group = unique("grp")
    sm.create_model_package_group(ModelPackageGroupName=group,
                                  Tags=[{"Key": "stage", "Value": "dev"}])
    arns = [sm.create_model_package(ModelPackageGroupName=group,
                                    InferenceSpecification=_spec(url))["ModelPackageArn"]
            for _ in range(3)]
    sm.update_model_package(ModelPackageArn=arns[1], ModelApprovalStatus="Approved")

    found = sm.search(Resource="ModelPackageGroup", SearchExpression={"Filters": [
        {"Name": "ModelPackageGroupName", "Operator": "Equals", "Value": group}]})
    assert [r["ModelPackageGroup"]["ModelPackageGroupName"] for r in found["Results"]] == \
        [group]
    assert found["Results"][0]["ModelPackageGroup"]["Tags"] == [
        {"Key": "stage", "Value": "dev"}]
    by_tag = sm.search(Resource="ModelPackageGroup", SearchExpression={"Filters": [
        {"Name": "Tags.stage", "Operator": "Equals", "Value": "dev"},
        {"Name": "ModelPackageGroupName", "Operator": "Contains", "Value": group}]})
    assert len(by_tag["Results"]) == 1
    approved = sm.search(Resource="ModelPackage", SearchExpression={"Filters": [
        {"Name": "ModelPackageGroupName", "Operator": "Equals", "Value": group},
        {"Name": "ModelApprovalStatus", "Operator": "Equals", "Value": "Approved"}]})
    assert [r["ModelPackage"]["ModelPackageArn"] for r in approved["Results"]] == [arns[1]]
    newest_first = sm.search(Resource="ModelPackage", SortBy="ModelPackageVersion",
                             SortOrder="Descending", SearchExpression={"Filters": [
                                 {"Name": "ModelPackageGroupName", "Value": group}]})
    assert [r["ModelPackage"]["ModelPackageVersion"] for r in newest_first["Results"]] == \
        [3, 2, 1]
    assert newest_first["TotalHits"]["Value"] == 3
    with pytest.raises(ClientError) as exc:
        sm.search(Resource="FeatureGroup")
    assert _error(exc)[0] == "ValidationException"


def test_registry_survives_a_kill(fresh_cove: Any, tmp_path: Any) -> None:
    sm = fresh_cove.client("sagemaker")
    s3 = fresh_cove.client("s3")
    s3.create_bucket(Bucket="reg")
    url, _, _ = xgb_model(s3, "reg")
    sm.create_model_package_group(ModelPackageGroupName="kept")
    arn = sm.create_model_package(ModelPackageGroupName="kept",
                                  InferenceSpecification=_spec(url))["ModelPackageArn"]
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected",
                            ApprovalDescription="worse than v0")
    fresh_cove.kill()
    fresh_cove.start()
    d = fresh_cove.client("sagemaker").describe_model_package(ModelPackageName=arn)
    assert (d["ModelApprovalStatus"], d["ApprovalDescription"]) == ("Rejected", "worse than v0")

"""The IAM actions the new S3 operations need, under a narrow role (AssumeRole keys): a version
by id needs s3:GetObjectVersion / s3:DeleteObjectVersion, and the bucket settings need their
own actions, not s3:CreateBucket (which ``PUT /bucket?...`` used to be taken for)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.iam.test_iam_api import account_trust, keys_client


def _role_client(cove: Any, bucket: str, actions: list[str]) -> Any:
    iam, sts = cove.client("iam"), cove.client("sts")
    account = sts.get_caller_identity()["Account"]
    role = f"s3-narrow-{uuid.uuid4().hex[:8]}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(account_trust(account)))
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": actions,
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}))
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}",
                            RoleSessionName="s3")["Credentials"]
    return keys_client(cove, "s3", creds)


def _denied(call: Any) -> None:
    with pytest.raises(ClientError) as err:
        call()
    assert err.value.response["Error"]["Code"] == "AccessDenied"


def test_versions_and_settings_need_their_own_actions(cove: Any, s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"old")["VersionId"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"new")
    narrow = _role_client(cove, bucket, ["s3:GetObject", "s3:DeleteObject", "s3:CreateBucket",
                                         "s3:ListBucket"])
    assert narrow.get_object(Bucket=bucket, Key="k")["Body"].read() == b"new"
    _denied(lambda: narrow.get_object(Bucket=bucket, Key="k", VersionId=v1))
    _denied(lambda: narrow.delete_object(Bucket=bucket, Key="k", VersionId=v1))
    _denied(lambda: narrow.list_object_versions(Bucket=bucket))
    _denied(lambda: narrow.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}))
    _denied(lambda: narrow.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration={"RestrictPublicBuckets": True}))
    _denied(lambda: narrow.delete_public_access_block(Bucket=bucket))
    _denied(lambda: narrow.put_bucket_acl(Bucket=bucket, ACL="private"))
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"old"

    wide = _role_client(cove, bucket, ["s3:GetObjectVersion", "s3:DeleteObjectVersion",
                                       "s3:ListBucketVersions"])
    assert wide.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"old"
    assert len(wide.list_object_versions(Bucket=bucket)["Versions"]) == 2
    wide.delete_object(Bucket=bucket, Key="k", VersionId=v1)
    with pytest.raises(ClientError):  # the version is gone for good
        s3.get_object(Bucket=bucket, Key="k", VersionId=v1)
    _denied(lambda: wide.get_object(Bucket=bucket, Key="k"))  # s3:GetObject is not its own

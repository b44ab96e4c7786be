"""S3 features cove keeps at AWS's defaults, through boto3: versioning never enabled (every
object is version "null") and ACLs disabled (Object Ownership "bucket owner enforced")."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_list_object_versions_pages_every_object_as_null(s3: Any, bucket: str) -> None:
    keys = ["a", "b/1", "b/2", "c", "d"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    seen, kwargs = [], {"Bucket": bucket, "MaxKeys": 2}
    while True:
        page = s3.list_object_versions(**kwargs)
        assert all(v["VersionId"] == "null" and v["IsLatest"] for v in page.get("Versions", []))
        seen += [v["Key"] for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        assert page["NextVersionIdMarker"] == "null"
        kwargs.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker="null")
    assert seen == keys
    rolled = s3.list_object_versions(Bucket=bucket, Delimiter="/", Prefix="")
    assert [v["Key"] for v in rolled["Versions"]] == ["a", "c", "d"]
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["b/"]
    under = s3.list_object_versions(Bucket=bucket, Prefix="b/")
    assert [v["Key"] for v in under["Versions"]] == ["b/1", "b/2"]
    assert under["Versions"][0]["ETag"] == s3.head_object(Bucket=bucket, Key="b/1")["ETag"]


def test_list_object_versions_bad_markers(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.list_object_versions(Bucket=bucket, VersionIdMarker="null")
    assert error_code(err) == "InvalidArgument"
    with pytest.raises(ClientError) as err:
        s3.list_object_versions(Bucket=bucket, KeyMarker="a", VersionIdMarker="3HL4kqtJlcpXroDTDmJ")
    assert error_code(err) == "InvalidArgument"
    with pytest.raises(ClientError) as err:
        s3.list_object_versions(Bucket="no-such-bucket-here")
    assert error_code(err) == "NoSuchBucket"


def test_bucket_versioning_has_no_status(s3: Any, bucket: str) -> None:
    answer = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in answer and "MFADelete" not in answer


def test_null_version_id_reads_and_deletes(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"v"
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="k", VersionId="not-a-version")
    assert error_code(err) == "InvalidArgument"
    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_with_version_ids(s3: Any, bucket: str) -> None:
    for key in ("x", "y", "z"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "x", "VersionId": "null"}, {"Key": "y"}, {"Key": "z", "VersionId": "bogus"}]})
    assert {(d["Key"], d.get("VersionId")) for d in answer["Deleted"]} == {("x", "null"),
                                                                          ("y", None)}
    assert [(e["Key"], e["Code"]) for e in answer["Errors"]] == [("z", "InvalidArgument")]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["z"]


def _owner_grants(policy: dict[str, Any]) -> list[tuple[str, str]]:
    return [(g["Grantee"]["ID"], g["Permission"]) for g in policy["Grants"]]


def test_acls_answer_owner_full_control(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    bucket_acl = s3.get_bucket_acl(Bucket=bucket)
    owner = bucket_acl["Owner"]["ID"]
    assert _owner_grants(bucket_acl) == [(owner, "FULL_CONTROL")]
    object_acl = s3.get_object_acl(Bucket=bucket, Key="k")
    assert _owner_grants(object_acl) == [(owner, "FULL_CONTROL")]
    assert owner == s3.list_buckets()["Owner"]["ID"]


def test_owner_only_acls_are_accepted(s3: Any, bucket: str) -> None:
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", ACL="bucket-owner-full-control")
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    policy = s3.get_bucket_acl(Bucket=bucket)
    del policy["ResponseMetadata"]
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy=policy)  # what it read, sent back
    s3.create_bucket(Bucket=bucket, ACL="private")


@pytest.mark.parametrize("canned", ["public-read", "public-read-write", "authenticated-read"])
def test_other_acls_are_refused_and_change_nothing(s3: Any, bucket: str, canned: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    for call in (lambda: s3.put_bucket_acl(Bucket=bucket, ACL=canned),
                 lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL=canned),
                 lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"new", ACL=canned),
                 lambda: s3.create_multipart_upload(Bucket=bucket, Key="m", ACL=canned)):
        with pytest.raises(ClientError) as err:
            call()
        assert error_code(err) == "AccessControlListNotSupported"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_acl_grants_to_others_are_refused(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.put_bucket_acl(Bucket=bucket, GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"')
    assert error_code(err) == "AccessControlListNotSupported"
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    stranger = {"Grantee": {"ID": "someone-else", "Type": "CanonicalUser"},
                "Permission": "READ"}
    with pytest.raises(ClientError) as err:
        s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": owner,
                                                               "Grants": [stranger]})
    assert error_code(err) == "AccessControlListNotSupported"


def test_acl_of_missing_things(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.get_object_acl(Bucket=bucket, Key="missing")
    assert error_code(err) == "NoSuchKey"
    with pytest.raises(ClientError) as err:
        s3.get_bucket_acl(Bucket="no-such-bucket-here")
    assert error_code(err) == "NoSuchBucket"

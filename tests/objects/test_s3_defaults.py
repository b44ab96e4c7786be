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


# --- conditional writes -------------------------------------------------------------------------

def test_conditional_put(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"1", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="c", Body=b"2", IfNoneMatch="*")
    assert error_code(err) == "PreconditionFailed"
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="c", Body=b"2", IfMatch='"0123"')
    assert error_code(err) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"1"
    s3.put_object(Bucket=bucket, Key="c", Body=b"3", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"3"
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch="*")
    assert error_code(err) == "NoSuchKey"
    assert s3.list_objects_v2(Bucket=bucket, Prefix="absent")["KeyCount"] == 0


def test_conditional_complete_multipart(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="m", Body=b"old")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=1, Body=b"new")
    parts = {"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]}
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=uid,
                                     MultipartUpload=parts, IfNoneMatch="*")
    assert error_code(err) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == b"old"
    s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=uid, MultipartUpload=parts,
                                 IfMatch="*")
    assert s3.get_object(Bucket=bucket, Key="m")["Body"].read() == b"new"


def test_racing_create_only_puts_one_wins(s3: Any, bucket: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def attempt(n: int) -> str:
        try:
            s3.put_object(Bucket=bucket, Key="race", Body=str(n).encode(), IfNoneMatch="*")
            return "ok"
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes.count("ok") == 1 and outcomes.count("PreconditionFailed") == 7


# --- listing ------------------------------------------------------------------------------------

def test_list_buckets_pages(s3: Any) -> None:
    names = [f"paged-bucket-{i}" for i in range(3)]
    for name in names:
        s3.create_bucket(Bucket=name)
    seen, kwargs = [], {"MaxBuckets": 2, "Prefix": "paged-bucket-"}
    while True:
        page = s3.list_buckets(**kwargs)
        assert page["Prefix"] == "paged-bucket-"
        seen += [b["Name"] for b in page["Buckets"]]
        if "ContinuationToken" not in page:
            break
        kwargs["ContinuationToken"] = page["ContinuationToken"]
    assert seen == names

    with pytest.raises(ClientError) as err:
        s3.list_buckets(MaxBuckets=10_001)
    assert error_code(err) == "InvalidArgument"


def test_list_buckets_bad_arguments(cove: Any) -> None:
    from tests.objects.test_bad_input import code_of, signed

    for query in ("max-buckets=0", "max-buckets=abc", "continuation-token=%25%25"):
        response = signed(cove, "GET", f"/?{query}")
        assert response.status_code == 400 and code_of(response) == "InvalidArgument", query


def test_max_keys_zero_and_empty_token(s3: Any, bucket: str) -> None:
    for key in ("a", "b"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    for answer in (s3.list_objects(Bucket=bucket, MaxKeys=0),
                   s3.list_objects_v2(Bucket=bucket, MaxKeys=0)):
        assert answer["IsTruncated"] is False and "Contents" not in answer
    answer = s3.list_objects_v2(Bucket=bucket, ContinuationToken="")
    assert answer["ContinuationToken"] == ""
    assert [o["Key"] for o in answer["Contents"]] == ["a", "b"]


def test_special_keys_list_and_delete(s3: Any, bucket: str) -> None:
    keys = [" ", "_ ", "\n", "<&>", "%", "?versionId", "a b/c"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    listed = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys)
    assert s3.list_objects(Bucket=bucket, Prefix="\n")["Prefix"] == "\n"
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# --- headers ------------------------------------------------------------------------------------

def test_metadata_bytes_round_trip(s3: Any, bucket: str) -> None:
    def latin1_meta(**kwargs: Any) -> None:
        kwargs["params"]["headers"]["x-amz-meta-word"] = "Hello World\xe9"

    s3.meta.events.register("before-call.s3.PutObject", latin1_meta)
    try:
        s3.put_object(Bucket=bucket, Key="m", Body=b"")
    finally:
        s3.meta.events.unregister("before-call.s3.PutObject", latin1_meta)
    assert s3.head_object(Bucket=bucket, Key="m")["Metadata"]["word"] == "Hello World\xe9"


@pytest.mark.parametrize(("sent", "stored"), [("gzip, aws-chunked", "gzip"),
                                               ("aws-chunked, gzip", "gzip"),
                                               ("deflate, gzip", "deflate, gzip"),
                                               ("aws-chunked", None)])
def test_aws_chunked_is_not_stored(s3: Any, bucket: str, sent: str, stored: str | None) -> None:
    s3.put_object(Bucket=bucket, Key="e", Body=b"x", ContentEncoding=sent)
    assert s3.head_object(Bucket=bucket, Key="e").get("ContentEncoding") == stored


def test_expected_bucket_owner(s3: Any, bucket: str) -> None:
    account = boto3_account(s3)
    s3.put_object(Bucket=bucket, Key="k", Body=b"", ExpectedBucketOwner=account)
    assert s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=account)["KeyCount"] == 1
    for call in (lambda: s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner="111122223333"),
                 lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"",
                                       ExpectedBucketOwner="111122223333")):
        with pytest.raises(ClientError) as err:
            call()
        assert error_code(err) == "AccessDenied"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def boto3_account(s3: Any) -> str:
    import boto3

    sts = boto3.client("sts", endpoint_url=s3.meta.endpoint_url, region_name="us-east-1",
                       aws_access_key_id=s3._request_signer._credentials.access_key,
                       aws_secret_access_key=s3._request_signer._credentials.secret_key)
    return str(sts.get_caller_identity()["Account"])


# --- multipart details --------------------------------------------------------------------------

def _two_part_object(s3: Any, bucket: str, key: str) -> tuple[str, list[dict[str, Any]], bytes]:
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    first, second = b"a" * (5 * 1024 * 1024), b"tail"
    parts = [{"ETag": s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n,
                                     Body=body)["ETag"], "PartNumber": n}
             for n, body in ((1, first), (2, second))]
    return uid, parts, first + second


def test_get_object_part_number(s3: Any, bucket: str) -> None:
    uid, parts, _ = _two_part_object(s3, bucket, "mp")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": parts})
    second = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert second["PartsCount"] == 2 and second["Body"].read() == b"tail"
    assert s3.head_object(Bucket=bucket, Key="mp", PartNumber=1)["ContentLength"] == 5 * 1024**2
    uid = s3.create_multipart_upload(Bucket=bucket, Key="one")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="one", UploadId=uid, PartNumber=1, Body=b"only")
    s3.complete_multipart_upload(Bucket=bucket, Key="one", UploadId=uid, MultipartUpload={
        "Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    one = s3.get_object(Bucket=bucket, Key="one", PartNumber=1)
    assert one["PartsCount"] == 1 and one["Body"].read() == b"only"
    s3.put_object(Bucket=bucket, Key="single", Body=b"body")
    assert s3.get_object(Bucket=bucket, Key="single", PartNumber=1)["Body"].read() == b"body"
    for key, number in (("mp", 3), ("single", 2)):
        with pytest.raises(ClientError) as err:
            s3.get_object(Bucket=bucket, Key=key, PartNumber=number)
        assert error_code(err) == "InvalidPartNumber"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_retried_complete_answers_the_same(s3: Any, bucket: str) -> None:
    uid, parts, data = _two_part_object(s3, bucket, "mp")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                        MultipartUpload={"Parts": parts})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                         MultipartUpload={"Parts": parts})
    assert again["ETag"] == done["ETag"]
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == data
    with pytest.raises(ClientError) as err:  # other parts: not what that upload made
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                     MultipartUpload={"Parts": parts[:1]})
    assert error_code(err) == "NoSuchUpload"


@pytest.mark.parametrize(("header", "code"), [("0-2", "InvalidArgument"),
                                              ("bytes=0", "InvalidArgument"),
                                              ("bytes=0-2,3-5", "InvalidArgument"),
                                              ("bytes=3-1", "InvalidArgument"),
                                              ("bytes=0-21", "InvalidRange")])
def test_upload_part_copy_bad_ranges(s3: Any, bucket: str, header: str, code: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"12345")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dest")["UploadId"]
    with pytest.raises(ClientError) as err:
        s3.upload_part_copy(Bucket=bucket, Key="dest", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=header)
    assert error_code(err) == code
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="dest", UploadId=uid)


def test_composite_checksum_checked_on_complete(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="c", ChecksumAlgorithm="SHA256")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="c", UploadId=uid, PartNumber=1, Body=b"x",
                          ChecksumAlgorithm="SHA256")
    parts = {"Parts": [{"ETag": part["ETag"], "PartNumber": 1,
                        "ChecksumSHA256": part["ChecksumSHA256"]}]}
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=uid, MultipartUpload=parts,
                                     ChecksumSHA256="bad")
    assert error_code(err) == "BadDigest"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=uid,
                                        MultipartUpload=parts)
    assert done["ChecksumSHA256"].endswith("-1")


# --- GetObjectAttributes ------------------------------------------------------------------------

ALL_ATTRIBUTES = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


def test_object_attributes_single_part(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="o", Body=b"foo", ChecksumAlgorithm="CRC32")
    got = s3.get_object_attributes(Bucket=bucket, Key="o", ObjectAttributes=ALL_ATTRIBUTES)
    assert got["ETag"] == put["ETag"].strip('"') and got["ObjectSize"] == 3
    assert got["StorageClass"] == "STANDARD" and "ObjectParts" not in got
    assert got["Checksum"]["ChecksumCRC32"] == put["ChecksumCRC32"]
    only = s3.get_object_attributes(Bucket=bucket, Key="o", ObjectAttributes=["ObjectSize"])
    assert "ETag" not in only and only["ObjectSize"] == 3


def test_object_attributes_parts_paged(s3: Any, bucket: str) -> None:
    uid, parts, data = _two_part_object(s3, bucket, "mp")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": parts})
    first = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=ALL_ATTRIBUTES,
                                     MaxParts=1)["ObjectParts"]
    assert first["TotalPartsCount"] == 2 and first["IsTruncated"] is True
    assert [(p["PartNumber"], p["Size"]) for p in first["Parts"]] == [(1, 5 * 1024 * 1024)]
    rest = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"],
                                    PartNumberMarker=first["NextPartNumberMarker"])["ObjectParts"]
    assert [(p["PartNumber"], p["Size"]) for p in rest["Parts"]] == [(2, 4)]
    assert rest["IsTruncated"] is False


def test_object_attributes_bad_requests(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert error_code(err) == "NoSuchKey"
    s3.put_object(Bucket=bucket, Key="o", Body=b"")
    with pytest.raises(ClientError) as err:
        s3.get_object_attributes(Bucket=bucket, Key="o", ObjectAttributes=["Colour"])
    assert error_code(err) == "InvalidArgument"

"""Every S3 operation cove implements, through boto3 against a real server."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import zlib
from pathlib import Path
from typing import Any

import crc32c
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

MiB = 1024 * 1024


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


# --- buckets ----------------------------------------------------------------------------------

def test_bucket_lifecycle(s3: Any) -> None:
    s3.create_bucket(Bucket="lifecycle-bucket")
    assert "lifecycle-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.head_bucket(Bucket="lifecycle-bucket")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_location(Bucket="lifecycle-bucket")["LocationConstraint"] is None
    s3.create_bucket(Bucket="lifecycle-bucket")  # us-east-1: re-creating your own is a 200
    s3.put_object(Bucket="lifecycle-bucket", Key="k", Body=b"x")
    with pytest.raises(ClientError) as err:
        s3.delete_bucket(Bucket="lifecycle-bucket")
    assert error_code(err) == "BucketNotEmpty"
    s3.delete_object(Bucket="lifecycle-bucket", Key="k")
    s3.delete_bucket(Bucket="lifecycle-bucket")
    with pytest.raises(ClientError) as err:
        s3.head_bucket(Bucket="lifecycle-bucket")
    assert error_code(err) == "404"


def test_bucket_in_another_region(s3: Any) -> None:
    s3.create_bucket(Bucket="eu-bucket-x",
                     CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.get_bucket_location(Bucket="eu-bucket-x")["LocationConstraint"] == "eu-west-1"
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket="eu-bucket-x",
                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert error_code(err) == "BucketAlreadyOwnedByYou"


@pytest.mark.parametrize("name", ["UPPER", "ab", "a..b", "-abc", "abc-", "192.168.1.1",
                                  "xn--abc", "a" * 64, "under_score"])
def test_invalid_bucket_names(s3: Any, name: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket=name)
    assert error_code(err) == "InvalidBucketName"


def test_missing_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"x")
    assert error_code(err) == "NoSuchBucket"
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket="no-such-bucket-here")
    assert error_code(err) == "NoSuchBucket"


# --- objects ----------------------------------------------------------------------------------

ODD_KEYS = ["with space.txt", "ünïcödé/ключ/鍵.bin", "plus+sign", "equals=sign", "percent%20x",
            "dots/../up", "./here", "/leading-slash", "a//double", "tilde~and'quote",
            "k" * 1024, "ends-with/"]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_keys_round_trip(s3: Any, bucket: str, key: str) -> None:
    body = key.encode() * 3
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == [key]
    listed_v1 = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    assert listed_v1 == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_key_too_long(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert error_code(err) == "KeyTooLongError"


def test_a_and_a_slash_b_coexist(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"file a")
    s3.put_object(Bucket=bucket, Key="a/b", Body=b"file a/b")
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"file a"
    assert s3.get_object(Bucket=bucket, Key="a/b")["Body"].read() == b"file a/b"


def test_put_get_attributes(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="doc.json", Body=b'{"a": 1}', ContentType="application/json",
                  Metadata={"owner": "ada", "Mixed-Case": "Value"},
                  ContentEncoding="identity", CacheControl="max-age=60",
                  ContentDisposition='attachment; filename="doc.json"', ContentLanguage="en")
    got = s3.get_object(Bucket=bucket, Key="doc.json")
    assert got["Body"].read() == b'{"a": 1}'
    assert got["ContentType"] == "application/json"
    assert got["Metadata"] == {"owner": "ada", "mixed-case": "Value"}
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == 'attachment; filename="doc.json"'
    assert got["ContentLanguage"] == "en"
    assert got["ETag"] == '"' + hashlib.md5(b'{"a": 1}').hexdigest() + '"'
    head = s3.head_object(Bucket=bucket, Key="doc.json")
    assert head["ContentLength"] == 8 and head["Metadata"]["owner"] == "ada"
    assert s3.get_object(Bucket=bucket, Key="doc.json")["ContentEncoding"] == "identity"


def test_empty_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b"" and got["ContentLength"] == 0
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="empty", Range="bytes=0-0")
    assert error_code(err) == "InvalidRange"


def test_missing_key(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="nope")
    assert error_code(err) == "NoSuchKey"
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key="nope")
    assert error_code(err) == "404"
    s3.delete_object(Bucket=bucket, Key="nope")  # deleting a missing key succeeds, as in S3


def test_overwrite_replaces(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    s3.put_object(Bucket=bucket, Key="k", Body=b"two!")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two!"


def test_content_md5(s3: Any, bucket: str) -> None:
    body = b"checked body"
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="md5", Body=body, ContentMD5=good)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="md5-bad", Body=body, ContentMD5=bad)
    assert error_code(err) == "BadDigest"
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="md5-bad", Body=body, ContentMD5="not-base64!")
    assert error_code(err) == "InvalidDigest"
    assert "md5-bad" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_checksums_verified_and_returned(s3: Any, bucket: str, algorithm: str) -> None:
    body = os.urandom(100_000)
    if algorithm == "CRC32C":  # botocore computes CRC32C only with awscrt: send the value
        value = base64.b64encode(crc32c.crc32c(body).to_bytes(4, "big")).decode()
        s3.put_object(Bucket=bucket, Key="c", Body=body, ChecksumCRC32C=value)
    else:
        s3.put_object(Bucket=bucket, Key="c", Body=body, ChecksumAlgorithm=algorithm)
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got[f"Checksum{algorithm}"]


def test_wrong_checksum_rejected(s3: Any, bucket: str) -> None:
    wrong = base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode()
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="bad-crc", Body=b"payload", ChecksumCRC32=wrong)
    assert error_code(err) == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad-crc")


def test_ranges(s3: Any, bucket: str) -> None:
    body = bytes(range(256)) * 40
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    for spec, expected in [("bytes=0-9", body[:10]), ("bytes=100-", body[100:]),
                           ("bytes=-5", body[-5:]), ("bytes=10000-20000", body[10000:])]:
        got = s3.get_object(Bucket=bucket, Key="r", Range=spec)
        assert got["Body"].read() == expected
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"].endswith(f"/{len(body)}")
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(body)}-")
    assert error_code(err) == "InvalidRange"


def test_conditional_get(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"v1")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert error_code(err) == "PreconditionFailed"
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    assert error_code(err) == "PreconditionFailed"


def test_response_overrides(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="text/plain")
    got = s3.get_object(Bucket=bucket, Key="o", ResponseContentType="application/x-test",
                        ResponseContentDisposition="attachment", ResponseCacheControl="no-cache")
    assert got["ContentType"] == "application/x-test"
    assert got["ContentDisposition"] == "attachment"
    assert got["CacheControl"] == "no-cache"


def test_copy_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/plain",
                  Metadata={"a": "1"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"copy me" and got["Metadata"] == {"a": "1"}
    assert got["ContentType"] == "text/plain"
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/src",
                   MetadataDirective="REPLACE", Metadata={"b": "2"}, ContentType="text/csv")
    got = s3.get_object(Bucket=bucket, Key="dst2")
    assert got["Metadata"] == {"b": "2"} and got["ContentType"] == "text/csv"
    # source and copy are independent
    s3.delete_object(Bucket=bucket, Key="src")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"copy me"
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/dst")
    assert error_code(err) == "InvalidRequest"
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/dst",
                   MetadataDirective="REPLACE", Metadata={"c": "3"})
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"c": "3"}
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/missing")
    assert error_code(err) == "NoSuchKey"


def test_delete_objects(s3: Any, bucket: str) -> None:
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"d/{i}", Body=b"x")
    result = s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": f"d/{i}"} for i in range(3)] + [{"Key": "d/missing"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["d/0", "d/1", "d/2", "d/missing"]
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert left == ["d/3", "d/4"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d/3"}], "Quiet": True})
    assert "Deleted" not in quiet


# --- listing ----------------------------------------------------------------------------------

@pytest.fixture
def tree(s3: Any, bucket: str) -> str:
    keys = ["a.txt", "b/1", "b/2", "b/c/3", "c/4", "d", "d/5", "e+f", "é"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return bucket


def test_list_with_delimiter(s3: Any, tree: str) -> None:
    got = s3.list_objects_v2(Bucket=tree, Delimiter="/")
    assert [o["Key"] for o in got["Contents"]] == ["a.txt", "d", "e+f", "é"]
    assert [p["Prefix"] for p in got["CommonPrefixes"]] == ["b/", "c/", "d/"]
    assert got["KeyCount"] == 7
    got = s3.list_objects_v2(Bucket=tree, Prefix="b/", Delimiter="/")
    assert [o["Key"] for o in got["Contents"]] == ["b/1", "b/2"]
    assert [p["Prefix"] for p in got["CommonPrefixes"]] == ["b/c/"]
    v1 = s3.list_objects(Bucket=tree, Prefix="b/", Delimiter="/")
    assert [o["Key"] for o in v1["Contents"]] == ["b/1", "b/2"]


def test_list_pagination_v2(s3: Any, tree: str) -> None:
    for delimiter in ("", "/"):
        seen: list[str] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": tree, "MaxKeys": 2, "Delimiter": delimiter}
            if token:
                kwargs["ContinuationToken"] = token
            page = s3.list_objects_v2(**kwargs)
            seen += [o["Key"] for o in page.get("Contents", [])]
            seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            if not page["IsTruncated"]:
                break
            token = page["NextContinuationToken"]
        expected = (["a.txt", "b/1", "b/2", "b/c/3", "c/4", "d", "d/5", "e+f", "é"]
                    if not delimiter else ["a.txt", "b/", "c/", "d", "d/", "e+f", "é"])
        assert sorted(seen) == sorted(expected)


def test_paginators_and_start_after(s3: Any, tree: str) -> None:
    keys = [o["Key"] for page in s3.get_paginator("list_objects").paginate(
        Bucket=tree, PaginationConfig={"PageSize": 3}) for o in page["Contents"]]
    assert keys == ["a.txt", "b/1", "b/2", "b/c/3", "c/4", "d", "d/5", "e+f", "é"]
    got = s3.list_objects_v2(Bucket=tree, StartAfter="c/4")
    assert [o["Key"] for o in got["Contents"]] == ["d", "d/5", "e+f", "é"]
    v1 = s3.list_objects(Bucket=tree, Marker="d", MaxKeys=100)
    assert [o["Key"] for o in v1["Contents"]] == ["d/5", "e+f", "é"]


def test_list_encoding_type_url(s3: Any, tree: str) -> None:
    # boto3 asks for encoding-type=url and decodes the answer: keys come back as stored.
    got = s3.list_objects_v2(Bucket=tree, Prefix="e")
    assert [o["Key"] for o in got["Contents"]] == ["e+f"]


def test_list_empty_prefix_and_max_keys_zero(s3: Any, tree: str) -> None:
    assert s3.list_objects_v2(Bucket=tree, Prefix="zzz")["KeyCount"] == 0
    assert "Contents" not in s3.list_objects_v2(Bucket=tree, MaxKeys=0)


# --- multipart --------------------------------------------------------------------------------

def test_multipart_manual(s3: Any, bucket: str) -> None:
    part1, part2 = os.urandom(5 * MiB), os.urandom(1234)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="text/x-test",
                                        Metadata={"m": "1"})
    uid = upload["UploadId"]
    # out of order, as boto3's parallel transfers do
    e2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=2, Body=part2)["ETag"]
    e1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=part1)["ETag"]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mp", uid)]
    parts = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 5 * MiB), (2, 1234)]
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    assert error_code(err) == "InvalidPartOrder"
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e2}, {"PartNumber": 2, "ETag": e2}]})
    assert error_code(err) == "InvalidPart"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    expected_etag = hashlib.md5(bytes.fromhex(e1.strip('"')) + bytes.fromhex(e2.strip('"')))
    assert done["ETag"] == f'"{expected_etag.hexdigest()}-2"'
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == part1 + part2
    assert got["ContentType"] == "text/x-test" and got["Metadata"] == {"m": "1"}
    got = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={5 * MiB - 10}-{5 * MiB + 9}")
    assert got["Body"].read() == (part1 + part2)[5 * MiB - 10: 5 * MiB + 10]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_multipart_small_part_rejected(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=n,
                            Body=b"tiny")["ETag"] for n in (1, 2)]
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags, strict=True)]})
    assert error_code(err) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=uid)
    with pytest.raises(ClientError) as err:
        s3.list_parts(Bucket=bucket, Key="small", UploadId=uid)
    assert error_code(err) == "NoSuchUpload"
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=1, Body=b"x")
    assert error_code(err) == "NoSuchUpload"


def test_upload_part_copy(s3: Any, bucket: str) -> None:
    source = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    e1 = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "source"},
                             CopySourceRange=f"bytes=0-{5 * MiB - 1}")["CopyPartResult"]["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="assembled", UploadId=uid, PartNumber=2,
                        Body=b"tail")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    got = s3.get_object(Bucket=bucket, Key="assembled")["Body"].read()
    assert got == source[:5 * MiB] + b"tail"


def test_multipart_checksums(s3: Any, bucket: str) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(100)]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="ck", ChecksumAlgorithm="CRC32")["UploadId"]
    done = [s3.upload_part(Bucket=bucket, Key="ck", UploadId=uid, PartNumber=n + 1, Body=p,
                           ChecksumAlgorithm="CRC32") for n, p in enumerate(parts)]
    result = s3.complete_multipart_upload(
        Bucket=bucket, Key="ck", UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": n + 1, "ETag": d["ETag"], "ChecksumCRC32": d["ChecksumCRC32"]}
            for n, d in enumerate(done)]})
    raw = b"".join(base64.b64decode(d["ChecksumCRC32"]) for d in done)
    composite = base64.b64encode(zlib.crc32(raw).to_bytes(4, "big")).decode()
    assert result["ChecksumCRC32"] == f"{composite}-2"
    assert s3.get_object(Bucket=bucket, Key="ck")["Body"].read() == b"".join(parts)


def test_upload_download_50mb_byte_identical(s3: Any, bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    data = os.urandom(50 * MiB)
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB,
                            max_concurrency=8)
    s3.upload_file(str(source), bucket, "big.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-7"')
    target = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(target), Config=config)  # ranged, parallel GETs
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_oversize_single_put_refused_before_upload(cove: Any, bucket: str) -> None:
    from tests.objects.test_bad_input import read_reply

    with cove.send_signed_head("PUT", f"/{bucket}/huge", {
            "Content-Length": str(5 * 1024**3 + 1),
            "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}) as sock:
        reply = read_reply(sock)
    assert " 400 " in reply.splitlines()[0] and "EntityTooLarge" in reply

"""PublicAccessBlock on a bucket, through boto3: kept, returned, deleted with the bucket, and
``RestrictPublicBuckets`` stops the bucket's website (cove's one kind of public access)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

ALL_ON = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
          "RestrictPublicBuckets": True}


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_put_get_delete_public_access_block(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.get_public_access_block(Bucket=bucket)
    assert error_code(err) == "NoSuchPublicAccessBlockConfiguration"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    conf = {**ALL_ON, "RestrictPublicBuckets": False}
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=conf)
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == conf
    # a flag left out is false, as on S3
    s3.put_public_access_block(Bucket=bucket,
                               PublicAccessBlockConfiguration={"BlockPublicAcls": True})
    got = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got == {**{k: False for k in ALL_ON}, "BlockPublicAcls": True}
    answer = s3.delete_public_access_block(Bucket=bucket)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as err:
        s3.get_public_access_block(Bucket=bucket)
    assert error_code(err) == "NoSuchPublicAccessBlockConfiguration"


def test_public_access_block_errors_change_nothing(s3: Any, bucket: str) -> None:
    missing = f"gone-{uuid.uuid4().hex[:10]}"
    for call in (lambda: s3.get_public_access_block(Bucket=missing),
                 lambda: s3.delete_public_access_block(Bucket=missing),
                 lambda: s3.put_public_access_block(Bucket=missing,
                                                    PublicAccessBlockConfiguration=ALL_ON)):
        with pytest.raises(ClientError) as err:
            call()
        assert error_code(err) == "NoSuchBucket"
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=ALL_ON)
    hostile = [b"<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls>"
               b"</PublicAccessBlockConfiguration>",
               b"<NotTheRightDocument/>", b"<unclosed", b"\xff\xfe" * 10]
    for body in hostile:
        with pytest.raises(ClientError) as err:
            _put_raw(s3, bucket, body)
        assert error_code(err) == "MalformedXML"
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == ALL_ON


def test_public_access_block_dies_with_its_bucket(s3: Any) -> None:
    name = f"pab-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=ALL_ON)
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as err:
        s3.get_public_access_block(Bucket=name)
    assert error_code(err) == "NoSuchPublicAccessBlockConfiguration"


def test_restrict_public_buckets_closes_the_website(cove: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="index.html", Body=b"<p>hello</p>",
                  ContentType="text/html")
    s3.put_bucket_website(Bucket=bucket,
                          WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    site = f"{cove.url}/site/{bucket}/"
    assert requests.get(site, timeout=30).status_code == 200
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        **{k: False for k in ALL_ON}, "RestrictPublicBuckets": True})
    closed = requests.get(site, timeout=30)
    assert closed.status_code == 403 and b"hello" not in closed.content
    s3.delete_public_access_block(Bucket=bucket)
    assert requests.get(site, timeout=30).text == "<p>hello</p>"


def _put_raw(s3: Any, bucket: str, body: bytes) -> None:
    """PutPublicAccessBlock with ``body`` as the document (botocore would not send a bad one)."""
    def swap(request: Any, **_: Any) -> None:
        request.data = body
        for name in ("Content-MD5", "x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm"):
            if name in request.headers:
                del request.headers[name]

    event = "before-sign.s3.PutPublicAccessBlock"
    s3.meta.events.register_first(event, swap, unique_id="swap-body")
    try:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=ALL_ON)
    finally:
        s3.meta.events.unregister(event, unique_id="swap-body")

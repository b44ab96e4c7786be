"""Every ``x-amz-*`` header must be signed, presigned URLs live a week at most, and a form POST to
a service cove does not serve gets an error its client can read.

Presigned URLs come from boto3's ``generate_presigned_url``; the hostile header is added by
``requests``, as someone holding the URL would add it."""

from __future__ import annotations

import time
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import REGION, CoveServer

NOT_SIGNED = "There were headers present in the request which were not signed"


@pytest.fixture
def s3v4(cove: CoveServer) -> Any:
    return cove.client("s3", signature_version="s3v4")


def _error(response: requests.Response) -> dict[str, str]:
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Error", response.text
    return {child.tag: child.text or "" for child in root}


def test_presigned_put_with_an_added_copy_source_copies_nothing(s3v4: Any, bucket: str) -> None:
    s3v4.put_object(Bucket=bucket, Key="private/secret.txt", Body=b"the secret")
    url = s3v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "drop.txt"})
    hostile = requests.put(url, data=b"", timeout=30, headers={
        "x-amz-copy-source": f"/{bucket}/private/secret.txt"})
    assert hostile.status_code == 403
    error = _error(hostile)
    assert error["Code"] == "AccessDenied" and error["Message"] == NOT_SIGNED
    assert error["HeadersNotSigned"] == "x-amz-copy-source"
    with pytest.raises(ClientError) as missing:
        s3v4.head_object(Bucket=bucket, Key="drop.txt")
    assert missing.value.response["Error"]["Code"] == "404"
    # the same URL as it was meant to be used still works
    assert requests.put(url, data=b"mine", timeout=30).status_code == 200
    assert s3v4.get_object(Bucket=bucket, Key="drop.txt")["Body"].read() == b"mine"


def test_presigned_put_with_added_metadata_and_tagging_is_refused(s3v4: Any,
                                                                  bucket: str) -> None:
    url = s3v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "m.txt"})
    hostile = requests.put(url, data=b"x", timeout=30, headers={
        "x-amz-meta-owner": "mallory", "x-amz-tagging": "a=b",
        "x-amz-website-redirect-location": "/elsewhere"})
    assert hostile.status_code == 403
    assert _error(hostile)["HeadersNotSigned"] == (
        "x-amz-meta-owner, x-amz-tagging, x-amz-website-redirect-location")
    # headers the signer did sign are fine
    signed = s3v4.generate_presigned_url("put_object", Params={
        "Bucket": bucket, "Key": "m.txt", "Metadata": {"owner": "alice"}})
    ok = requests.put(signed, data=b"x", timeout=30, headers={"x-amz-meta-owner": "alice"})
    assert ok.status_code == 200, ok.text
    assert s3v4.head_object(Bucket=bucket, Key="m.txt")["Metadata"] == {"owner": "alice"}


def test_content_sha256_needs_no_listing_and_other_prefixes_are_free(s3v4: Any,
                                                                     bucket: str) -> None:
    """The payload hash is part of what is signed anyway; ``x-amzn-`` is another prefix."""
    s3v4.put_object(Bucket=bucket, Key="g.txt", Body=b"got")
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "g.txt"})
    answer = requests.get(url, timeout=30, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD",
                                                    "x-amzn-trace-id": "Root=1-abc"})
    assert answer.status_code == 200 and answer.content == b"got"


def test_header_signed_request_with_an_unsigned_amz_header_is_refused(
        cove: CoveServer, s3v4: Any, bucket: str) -> None:
    c = cove.credentials
    url = f"{cove.url}/{bucket}/h.txt"
    request = AWSRequest("PUT", url, data=b"body", headers={
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    S3SigV4Auth(Credentials(c["access_key_id"], c["secret_access_key"]), "s3",
                REGION).add_auth(request)
    headers = {**dict(request.headers.items()), "x-amz-storage-class": "GLACIER"}
    answer = requests.put(url, data=b"body", headers=headers, timeout=30)
    assert answer.status_code == 403
    assert _error(answer)["HeadersNotSigned"] == "x-amz-storage-class"
    with pytest.raises(ClientError):
        s3v4.head_object(Bucket=bucket, Key="h.txt")
    # botocore signs every x-amz-* header it sends: its own requests pass
    s3v4.put_object(Bucket=bucket, Key="h.txt", Body=b"body", StorageClass="STANDARD",
                    Metadata={"k": "v"}, Tagging="a=b")


def test_presign_expiry_is_capped_at_a_week_with_s3s_wording(s3v4: Any, bucket: str) -> None:
    s3v4.put_object(Bucket=bucket, Key="w.txt", Body=b"x")
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "w.txt"},
                                      ExpiresIn=604801)
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 400
    error = _error(answer)
    assert error["Code"] == "AuthorizationQueryParametersError"
    assert error["Message"] == ("X-Amz-Expires must be less than a week (in seconds) that is "
                                "604800")
    negative = requests.get(url.replace("X-Amz-Expires=604801", "X-Amz-Expires=-5"), timeout=30)
    assert _error(negative)["Message"] == "X-Amz-Expires must be non-negative"


def test_expired_presign_says_when(s3v4: Any, bucket: str) -> None:
    s3v4.put_object(Bucket=bucket, Key="e.txt", Body=b"x")
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "e.txt"},
                                      ExpiresIn=1)
    deadline = time.monotonic() + 30
    while (answer := requests.get(url, timeout=30)).status_code == 200:
        assert time.monotonic() < deadline, "the URL never expired"
        time.sleep(0.2)
    assert answer.status_code == 403
    error = _error(answer)
    assert error["Code"] == "AccessDenied" and error["Message"] == "Request has expired"
    assert error["X-Amz-Expires"] == "1" and error["Expires"] and error["ServerTime"]


@pytest.mark.parametrize(("service", "call"), [
    ("sns", lambda client: client.list_topics()),
    ("cloudformation", lambda client: client.list_stacks()),
])
def test_query_protocol_service_cove_does_not_serve(cove: CoveServer, service: str,
                                                    call: Any) -> None:
    """boto3 reads the error: a real code and message, not ``Unknown``."""
    with pytest.raises(ClientError) as raised:
        call(cove.client(service))
    error = raised.value.response["Error"]
    assert error["Code"] == "InvalidAction"
    assert f"cove does not serve '{service}'" in error["Message"]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unsigned_form_post_is_answered_in_the_query_shape(cove: CoveServer) -> None:
    answer = requests.post(cove.url + "/", data={"Action": "ListTopics"}, timeout=30)
    assert answer.status_code == 403
    root = ElementTree.fromstring(answer.content)
    assert root.tag == "ErrorResponse"
    assert root.findtext("Error/Type") == "Sender"
    assert root.findtext("Error/Code") == "MissingAuthenticationToken"

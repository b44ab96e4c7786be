"""Bad input gets the right S3 error, never a 500, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError


def signed(cove: Any, method: str, path: str, body: bytes = b"",
           headers: dict[str, str] | None = None) -> requests.Response:
    """Send a correctly signed raw request (so only its content is wrong)."""
    import hashlib

    creds = cove.credentials
    request = AWSRequest(method, cove.url + path, data=body, headers={
        "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest(), **(headers or {})})
    S3SigV4Auth(Credentials(creds["access_key_id"], creds["secret_access_key"]), "s3",
                "us-east-1").add_auth(request)
    return requests.request(method, cove.url + path, data=body, headers=dict(request.headers),
                            timeout=30)


def read_reply(sock: Any) -> str:
    """Read a raw HTTP error reply until its XML body has arrived."""
    reply = b""
    while b"</Error>" not in reply:
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    return reply.decode(errors="replace")


def code_of(response: requests.Response) -> str:
    import re

    match = re.search(r"<Code>([^<]+)</Code>", response.text)
    return match.group(1) if match else ""


def test_malformed_xml_delete(cove: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")
    response = signed(cove, "POST", f"/{bucket}?delete", b"<Delete><Object><Key>keep</Key>",
                      {"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="})
    assert response.status_code == 400
    assert code_of(response) in ("MalformedXML", "BadDigest")
    response = signed(cove, "POST", f"/{bucket}?delete", b"<Delete><Object><Key>keep</Key>")
    assert response.status_code == 400 and code_of(response) == "MalformedXML"
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"x"


def test_malformed_complete(cove: Any, s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    for body in (b"not xml at all", b"<CompleteMultipartUpload></CompleteMultipartUpload>",
                 b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part>"
                 b"</CompleteMultipartUpload>"):
        response = signed(cove, "POST", f"/{bucket}/mp?uploadId={uid}", body)
        assert response.status_code == 400 and code_of(response) == "MalformedXML", body
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)["UploadId"] == uid


def test_malformed_create_bucket_configuration(cove: Any) -> None:
    response = signed(cove, "PUT", "/fine-name-bucket", b"<CreateBucketConfiguration>")
    assert response.status_code == 400 and code_of(response) == "MalformedXML"


def test_bad_part_numbers(cove: Any, s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    for number in ("0", "10001", "abc"):
        response = signed(cove, "PUT", f"/{bucket}/mp?partNumber={number}&uploadId={uid}", b"x")
        assert response.status_code == 400 and code_of(response) == "InvalidArgument"


def test_unsupported_subresource_is_501_not_500(cove: Any, bucket: str) -> None:
    response = signed(cove, "GET", f"/{bucket}?policy")
    assert response.status_code == 501 and code_of(response) == "NotImplemented"


def test_bad_list_arguments(cove: Any, bucket: str) -> None:
    response = signed(cove, "GET", f"/{bucket}?list-type=2&max-keys=abc")
    assert response.status_code == 400 and code_of(response) == "InvalidArgument"
    response = signed(cove, "GET", f"/{bucket}?list-type=2&continuation-token=%25%25%25")
    assert response.status_code == 400 and code_of(response) == "InvalidArgument"
    response = signed(cove, "GET", f"/{bucket}?list-type=2&encoding-type=base64")
    assert response.status_code == 400 and code_of(response) == "InvalidArgument"


def test_method_not_allowed(cove: Any, bucket: str) -> None:
    response = signed(cove, "POST", f"/{bucket}")
    assert response.status_code == 405 and code_of(response) == "MethodNotAllowed"


def test_wrong_checksum_on_part(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=b"data",
                       ChecksumCRC32="AAAAAA==")
    assert err.value.response["Error"]["Code"] == "BadDigest"
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid).get("Parts", []) == []


def test_missing_content_length(cove: Any, bucket: str) -> None:
    with cove.send_signed_head("PUT", f"/{bucket}/nolength",
                               {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}) as sock:
        reply = read_reply(sock)
    assert " 411 " in reply.splitlines()[0] and "MissingContentLength" in reply

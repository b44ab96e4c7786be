"""SigV4 at the edge, over real HTTP: header signatures, presigned URLs and aws-chunked bodies.

Requests are signed by botocore (``SigV4Auth`` / ``S3SigV4Auth`` on an ``AWSRequest``, or a
boto3 client's ``generate_presigned_url``) and sent with plain ``requests``, so the server sees
exactly what an AWS SDK would put on the wire.  The only signing done by hand is the per-chunk
signature chain of ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``, which botocore does not implement;
that code is checked against AWS's published example before it is trusted against the server.
"""

from __future__ import annotations

import base64
import calendar
import datetime
import hashlib
import hmac
import os
import time
import uuid
import zlib
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from xml.etree import ElementTree

import boto3
import botocore.auth
import pytest
import requests
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from cove import errors
from cove.edge._chunked import ChunkDecoder
from cove.edge._sigv4 import Credential, SignedRequest, Verifier, WireRequest
from cove.identity import Principal
from tests.conftest import REGION, CoveServer

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


# --- helpers ----------------------------------------------------------------------------------


def _creds(cove: CoveServer, *, secret: str | None = None, key: str | None = None) -> Credentials:
    c = cove.credentials
    return Credentials(key or c["access_key_id"], secret or c["secret_access_key"])


def _sign(method: str, url: str, credentials: Credentials, *, service: str = "s3",
          body: bytes = b"", headers: dict[str, str] | None = None,
          auth: type[SigV4Auth] = S3SigV4Auth,
          context: dict[str, Any] | None = None) -> dict[str, str]:
    """The headers botocore's signer produces for this request (Authorization included)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    request.context.update(context or {})
    auth(credentials, service, REGION).add_auth(request)
    return dict(request.headers.items())


def _send(method: str, url: str, headers: dict[str, str], body: bytes = b"") -> requests.Response:
    return requests.request(method, url, headers=headers, data=body, timeout=30)


def _s3_error(response: requests.Response) -> tuple[str, str]:
    """(Code, Message) of an S3 ``<Error>`` document."""
    assert response.headers.get("content-type", "").startswith("application/xml"), \
        (response.status_code, response.headers, response.text)
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Error", response.text
    return root.findtext("Code") or "", root.findtext("Message") or ""


def _missing(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        status: int = exc.response["ResponseMetadata"]["HTTPStatusCode"]
        return status == 404
    return False


def _key() -> str:
    return f"obj-{uuid.uuid4().hex[:8]}.bin"


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _chunk_signature(key: bytes, amz_date: str, scope: str, previous: str, data: bytes) -> str:
    """AWS's documented chunk signature (sigv4-streaming): chained from the previous one."""
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous,
                                EMPTY_SHA256, hashlib.sha256(data).hexdigest()])
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _signed_chunks(chunks: list[bytes], key: bytes, amz_date: str, scope: str,
                   seed: str) -> tuple[bytes, list[str]]:
    """The aws-chunked body for ``chunks`` plus the final empty chunk, and its signatures."""
    out, signatures, previous = [], [], seed
    for data in [*chunks, b""]:
        previous = _chunk_signature(key, amz_date, scope, previous, data)
        signatures.append(previous)
        out.append(f"{len(data):x};chunk-signature={previous}\r\n".encode() + data + b"\r\n")
    return b"".join(out), signatures


def _frame_signed(chunks: list[bytes], signatures: list[str]) -> bytes:
    return b"".join(f"{len(d):x};chunk-signature={s}\r\n".encode() + d + b"\r\n"
                    for d, s in zip([*chunks, b""], signatures, strict=True))


def _crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


# --- unsigned requests ------------------------------------------------------------------------


def test_unsigned_s3_request_is_access_denied(cove: CoveServer, bucket: str) -> None:
    r = requests.get(f"{cove.url}/{bucket}", timeout=30)
    assert r.status_code == 403
    code, _ = _s3_error(r)
    assert code == "AccessDenied"


def test_unsigned_json_request_is_missing_authentication_token(cove: CoveServer) -> None:
    r = requests.post(cove.url + "/", data=b"{}", timeout=30, headers={
        "X-Amz-Target": "SageMaker.ListTrainingJobs",
        "Content-Type": "application/x-amz-json-1.1"})
    assert 400 <= r.status_code < 500
    assert r.json()["__type"] == "MissingAuthenticationTokenException"


# --- wrong credentials ------------------------------------------------------------------------


def test_good_signature_lists_bucket(cove: CoveServer, bucket: str) -> None:
    url = f"{cove.url}/{bucket}?list-type=2"
    r = requests.get(url, headers=_sign("GET", url, _creds(cove)), timeout=30)
    assert r.status_code == 200, r.text
    assert b"ListBucketResult" in r.content


def test_wrong_secret_is_signature_does_not_match(cove: CoveServer, bucket: str) -> None:
    url = f"{cove.url}/{bucket}"
    r = requests.get(url, headers=_sign("GET", url, _creds(cove, secret="not-the-secret")),
                     timeout=30)
    assert r.status_code == 403
    assert _s3_error(r)[0] == "SignatureDoesNotMatch"


def test_unknown_access_key_is_invalid_access_key_id(cove: CoveServer, bucket: str) -> None:
    url = f"{cove.url}/{bucket}"
    r = requests.get(url, headers=_sign("GET", url, _creds(cove, key="AKIANOSUCHKEY0000000")),
                     timeout=30)
    assert r.status_code == 403
    assert _s3_error(r)[0] == "InvalidAccessKeyId"


def test_sts_signed_form_post_returns_the_account(cove: CoveServer) -> None:
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    url = cove.url + "/"
    headers = _sign("POST", url, _creds(cove), service="sts", body=body, auth=SigV4Auth,
                    headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    r = _send("POST", url, headers, body)
    assert r.status_code == 200, r.text
    ns = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
    root = ElementTree.fromstring(r.content)
    account = root.findtext("sts:GetCallerIdentityResult/sts:Account", namespaces=ns)
    assert account == cove.credentials["account_id"]


def test_sts_client_good_and_wrong_secret(cove: CoveServer) -> None:
    assert cove.client("sts").get_caller_identity()["Account"] == cove.credentials["account_id"]
    c = cove.credentials
    wrong = boto3.session.Session().client(
        "sts", endpoint_url=cove.url, region_name=REGION,
        aws_access_key_id=c["access_key_id"], aws_secret_access_key="wrong-secret",
        config=BotoConfig(retries={"max_attempts": 1, "mode": "standard"}))
    with pytest.raises(ClientError) as info:
        wrong.get_caller_identity()
    assert info.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# --- tampering --------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["x-amz-meta-foo", "Content-Type"])
def test_tampered_signed_header_is_rejected(cove: CoveServer, s3: Any, bucket: str,
                                            header: str) -> None:
    key = _key()
    url = f"{cove.url}/{bucket}/{key}"
    body = b"payload"
    headers = _sign("PUT", url, _creds(cove), body=body,
                    headers={"x-amz-meta-foo": "bar", "Content-Type": "text/plain"})
    assert header.lower() in headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
    headers[header] = "tampered"
    r = _send("PUT", url, headers, body)
    assert r.status_code == 403
    assert _s3_error(r)[0] == "SignatureDoesNotMatch"
    assert _missing(s3, bucket, key)


def test_tampered_body_with_signed_sha256(cove: CoveServer, s3: Any, bucket: str) -> None:
    key = _key()
    url = f"{cove.url}/{bucket}/{key}"
    body = b"the real body!"
    headers = _sign("PUT", url, _creds(cove), body=body)
    assert headers["X-Amz-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    evil = b"THE REAL BODY!"
    assert len(evil) == len(body)
    r = _send("PUT", url, headers, evil)
    assert r.status_code == 400, r.text
    assert _s3_error(r)[0] == "XAmzContentSHA256Mismatch"
    assert _missing(s3, bucket, key)
    # The untampered request goes through: the check above was about the body, not the signer.
    assert _send("PUT", url, headers, body).status_code == 200
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body


def test_old_x_amz_date_is_request_time_too_skewed(cove: CoveServer, bucket: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    past = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) \
        - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: past)
    url = f"{cove.url}/{bucket}"
    headers = _sign("GET", url, _creds(cove))
    assert headers["X-Amz-Date"] == past.strftime("%Y%m%dT%H%M%SZ")
    r = requests.get(url, headers=headers, timeout=30)
    assert r.status_code == 403
    assert _s3_error(r)[0] == "RequestTimeTooSkewed"


# --- presigned URLs ---------------------------------------------------------------------------
#
# The shared ``s3`` fixture's client presigns with botocore's legacy default (SigV2 query
# auth: AWSAccessKeyId/Signature/Expires) when no signature_version is configured; these tests
# are about SigV4 presigns, so they ask for ``s3v4`` explicitly.


@pytest.fixture
def s3v4(cove: CoveServer) -> Any:
    return cove.client("s3", signature_version="s3v4")


def test_presigned_get_returns_bytes(s3v4: Any, bucket: str) -> None:
    data = os.urandom(5000)
    s3v4.put_object(Bucket=bucket, Key="p.bin", Body=data)
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p.bin"})
    assert "X-Amz-Signature=" in url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert r.content == data


def test_presigned_put_stores_object(s3v4: Any, bucket: str) -> None:
    data = os.urandom(3000)
    url = s3v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.bin"})
    r = requests.put(url, data=data, timeout=30)
    assert r.status_code == 200, r.text
    assert s3v4.get_object(Bucket=bucket, Key="up.bin")["Body"].read() == data


def test_presigned_get_response_header_overrides(s3v4: Any, bucket: str) -> None:
    s3v4.put_object(Bucket=bucket, Key="doc.txt", Body=b"hi", ContentType="text/plain")
    disposition = 'attachment; filename="report.csv"'
    url = s3v4.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "doc.txt", "ResponseContentType": "text/csv",
        "ResponseContentDisposition": disposition})
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/csv"
    assert r.headers["Content-Disposition"] == disposition
    assert r.content == b"hi"


def test_expired_presign_is_access_denied(s3v4: Any, bucket: str) -> None:
    s3v4.put_object(Bucket=bucket, Key="e.txt", Body=b"x")
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "e.txt"},
                                    ExpiresIn=1)
    time.sleep(2)
    r = requests.get(url, timeout=30)
    assert r.status_code == 403
    code, message = _s3_error(r)
    assert code == "AccessDenied"
    assert "expired" in message.lower()


def test_presign_with_altered_signature(s3v4: Any, bucket: str) -> None:
    s3v4.put_object(Bucket=bucket, Key="a.txt", Body=b"x")
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a.txt"})
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    altered = [(k, (("0" if v[0] != "0" else "1") + v[1:]) if k == "X-Amz-Signature" else v)
               for k, v in query]
    assert altered != query
    r = requests.get(urlunsplit(parts._replace(query=urlencode(altered))), timeout=30)
    assert r.status_code == 403
    assert _s3_error(r)[0] == "SignatureDoesNotMatch"


def test_presign_expiry_over_a_week_is_rejected(s3v4: Any, bucket: str) -> None:
    s3v4.put_object(Bucket=bucket, Key="w.txt", Body=b"x")
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "w.txt"},
                                    ExpiresIn=604801)
    assert "X-Amz-Expires=604801" in url
    r = requests.get(url, timeout=30)
    assert 400 <= r.status_code < 500 and r.status_code != 200
    assert _s3_error(r)[0] == "AuthorizationQueryParametersError"
    # A week exactly is allowed.
    ok = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "w.txt"},
                                   ExpiresIn=604800)
    assert requests.get(ok, timeout=30).content == b"x"


# --- aws-chunked: unsigned payload with a checksum trailer ------------------------------------


def _unsigned_trailer_put(cove: CoveServer, bucket: str, key: str, data: bytes,
                          crc: str) -> requests.Response:
    body = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n"
                    for c in (data[:65536], data[65536:]))
    body += f"0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n".encode()
    url = f"{cove.url}/{bucket}/{key}"
    headers = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data)),
        "X-Amz-Trailer": "x-amz-checksum-crc32",
        "Content-Length": str(len(body)),
        "X-Amz-Content-SHA256": STREAMING_UNSIGNED_TRAILER,
    }
    # S3SigV4Auth replaces any X-Amz-Content-SHA256 header with self.payload(request); it
    # answers STREAMING-UNSIGNED-PAYLOAD-TRAILER when the checksum context says "in trailer",
    # which is how botocore itself signs these uploads.
    context = {"checksum": {"request_algorithm": {
        "in": "trailer", "algorithm": "crc32", "name": "x-amz-checksum-crc32"}}}
    signed = _sign("PUT", url, _creds(cove), headers=headers, context=context)
    assert signed["X-Amz-Content-SHA256"] == STREAMING_UNSIGNED_TRAILER
    assert "x-amz-content-sha256" in signed["Authorization"]
    return _send("PUT", url, signed, body)


def test_unsigned_trailer_with_correct_crc32(cove: CoveServer, s3: Any, bucket: str) -> None:
    data = os.urandom(100_000)
    r = _unsigned_trailer_put(cove, bucket, "t.bin", data, _crc32_b64(data))
    assert r.status_code == 200, r.text
    got = s3.get_object(Bucket=bucket, Key="t.bin")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)


def test_unsigned_trailer_with_wrong_crc32(cove: CoveServer, s3: Any, bucket: str) -> None:
    data = os.urandom(100_000)
    r = _unsigned_trailer_put(cove, bucket, "bad.bin", data, _crc32_b64(data + b"!"))
    assert r.status_code == 400, r.text
    assert _s3_error(r)[0] == "BadDigest"
    assert _missing(s3, bucket, "bad.bin")


# --- aws-chunked: signed chunks ---------------------------------------------------------------


def _signed_streaming_headers(cove: CoveServer, url: str, chunks: list[bytes]
                              ) -> tuple[dict[str, str], bytes, list[str]]:
    """Header-sign a streaming PUT with botocore, then frame and sign the chunks."""
    decoded = sum(len(c) for c in chunks)
    # Every frame's size is fixed (hex size, 64-hex signature), so frame once to measure.
    placeholder, _ = _signed_chunks(chunks, b"k", "d", "s", "0" * 64)
    headers = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(decoded),
        "Content-Length": str(len(placeholder)),
        "X-Amz-Content-SHA256": STREAMING_SIGNED,
    }
    # Plain SigV4Auth keeps the X-Amz-Content-SHA256 we set (S3SigV4Auth would replace it);
    # for a path of plain characters its canonical URI is the same as S3's.
    signed = _sign("PUT", url, _creds(cove), headers=headers, auth=SigV4Auth)
    assert signed["X-Amz-Content-SHA256"] == STREAMING_SIGNED
    seed = signed["Authorization"].rsplit("Signature=", 1)[1]
    amz_date = signed["X-Amz-Date"]
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    key = _signing_key(cove.credentials["secret_access_key"], amz_date[:8], REGION, "s3")
    body, signatures = _signed_chunks(chunks, key, amz_date, scope, seed)
    assert len(body) == len(placeholder)
    return signed, body, signatures


def test_signed_streaming_upload(cove: CoveServer, s3: Any, bucket: str) -> None:
    data = os.urandom(65536 + 12345)
    chunks = [data[:65536], data[65536:]]
    url = f"{cove.url}/{bucket}/signed.bin"
    headers, body, _ = _signed_streaming_headers(cove, url, chunks)
    r = _send("PUT", url, headers, body)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="signed.bin")["Body"].read() == data


@pytest.mark.parametrize("corrupt", [0, 1, 2], ids=["first", "second", "final-empty"])
def test_signed_streaming_corrupted_chunk_signature(cove: CoveServer, s3: Any, bucket: str,
                                                    corrupt: int) -> None:
    data = os.urandom(65536 + 12345)
    chunks = [data[:65536], data[65536:]]
    key = _key()
    url = f"{cove.url}/{bucket}/{key}"
    headers, _, signatures = _signed_streaming_headers(cove, url, chunks)
    bad = list(signatures)
    bad[corrupt] = ("0" if bad[corrupt][0] != "0" else "1") + bad[corrupt][1:]
    r = _send("PUT", url, headers, _frame_signed(chunks, bad))
    assert r.status_code == 403, r.text
    assert _s3_error(r)[0] == "SignatureDoesNotMatch"
    assert _missing(s3, bucket, key)


def test_signed_streaming_chunk_data_swapped(cove: CoveServer, s3: Any, bucket: str) -> None:
    """Signatures kept, data changed (same length): the chain catches it."""
    data = os.urandom(65536 + 100)
    chunks = [data[:65536], data[65536:]]
    key = _key()
    url = f"{cove.url}/{bucket}/{key}"
    headers, _, signatures = _signed_streaming_headers(cove, url, chunks)
    evil = [chunks[0], bytes(b ^ 0xFF for b in chunks[1])]
    r = _send("PUT", url, headers, _frame_signed(evil, signatures))
    assert r.status_code == 403, r.text
    assert _s3_error(r)[0] == "SignatureDoesNotMatch"
    assert _missing(s3, bucket, key)


# --- AWS's published chunked-upload example (S3 API docs, "sigv4-streaming") ------------------
#
# PUT /examplebucket/chunkObject.txt, 66560 bytes of 'a' in chunks of 65536 + 1024, secret
# wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, 20130524T000000Z, us-east-1.

DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
DOC_DATE = "20130524T000000Z"
DOC_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
DOC_CHUNK_SIGNATURES = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]
DOC_CHUNKS = [b"a" * 65536, b"a" * 1024]
DOC_PRINCIPAL = Principal(DOC_ACCESS_KEY, DOC_SECRET, "123456789012",
                          "arn:aws:iam::123456789012:root")


def test_chunk_signature_helper_matches_aws_example() -> None:
    """The test's own chunk signer reproduces the published values (so it can be trusted)."""
    key = _signing_key(DOC_SECRET, DOC_DATE[:8], "us-east-1", "s3")
    _, signatures = _signed_chunks(DOC_CHUNKS, key, DOC_DATE,
                                   "20130524/us-east-1/s3/aws4_request", DOC_SEED)
    assert signatures == DOC_CHUNK_SIGNATURES


def test_verifier_accepts_aws_example_seed_signature() -> None:
    issued = calendar.timegm(time.strptime(DOC_DATE, "%Y%m%dT%H%M%SZ"))
    verifier = Verifier(lambda k: DOC_PRINCIPAL if k == DOC_ACCESS_KEY else None,
                        clock=lambda: issued)
    wire = WireRequest("PUT", "/examplebucket/chunkObject.txt", "", [
        ("host", "s3.amazonaws.com"),
        ("x-amz-date", DOC_DATE),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/"
         "us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;"
         "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"
         f"Signature={DOC_SEED}"),
        ("x-amz-content-sha256", STREAMING_SIGNED),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("content-length", "66824"),
    ])
    signed = verifier.verify(wire, lambda: pytest.fail("S3 must not hash the body up front"))
    assert signed.signature == DOC_SEED
    assert signed.payload_hash == STREAMING_SIGNED


def _doc_signed_request() -> SignedRequest:
    return SignedRequest(
        principal=DOC_PRINCIPAL,
        credential=Credential(DOC_ACCESS_KEY, DOC_DATE[:8], "us-east-1", "s3"),
        amz_date=DOC_DATE,
        signature=DOC_SEED,
        signing_key=_signing_key(DOC_SECRET, DOC_DATE[:8], "us-east-1", "s3"),
        payload_hash=STREAMING_SIGNED,
        presigned=False,
    )


@pytest.mark.parametrize("piece", [1 << 20, 8192, 1000, 7])
def test_chunk_decoder_on_aws_example(piece: int) -> None:
    body = _frame_signed(DOC_CHUNKS, DOC_CHUNK_SIGNATURES)
    assert len(body) == 66824  # the example's Content-Length
    decoder = ChunkDecoder(_doc_signed_request())
    out = []
    for at in range(0, len(body), piece):
        out.extend(decoder.feed(body[at:at + piece]))
    decoder.finish()
    assert b"".join(out) == b"a" * 66560
    assert decoder.trailers == {}


@pytest.mark.parametrize("corrupt", [0, 1, 2])
def test_chunk_decoder_rejects_altered_aws_example(corrupt: int) -> None:
    bad = list(DOC_CHUNK_SIGNATURES)
    bad[corrupt] = bad[corrupt][:-1] + ("0" if bad[corrupt][-1] != "0" else "1")
    decoder = ChunkDecoder(_doc_signed_request())
    with pytest.raises(errors.SignatureDoesNotMatch):
        decoder.feed(_frame_signed(DOC_CHUNKS, bad))
        decoder.finish()


def test_chunk_decoder_rejects_unsigned_chunk_in_signed_request() -> None:
    decoder = ChunkDecoder(_doc_signed_request())
    with pytest.raises(errors.SignatureDoesNotMatch):
        decoder.feed(b"400\r\n" + b"a" * 1024 + b"\r\n0\r\n\r\n")
        decoder.finish()



# --- SigV2 query-string presigned URLs (boto3's default for generate_presigned_url) -----------

def test_sigv2_presigned_get_put_and_expiry(cove: Any, s3: Any, bucket: str) -> None:
    import time as _time

    import requests as _requests

    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "v2 key+x"})
    assert "AWSAccessKeyId=" in url and "X-Amz-Signature" not in url
    assert _requests.put(url, data=b"via sigv2", timeout=10).status_code == 200
    url = s3.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "v2 key+x", "ResponseContentType": "text/x-v2"})
    got = _requests.get(url, timeout=10)
    assert got.status_code == 200 and got.content == b"via sigv2"
    assert got.headers["content-type"] == "text/x-v2"
    tampered = url.replace("Signature=", "Signature=AA", 1)
    bad = _requests.get(tampered, timeout=10)
    assert bad.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in bad.text
    short = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2 key+x"},
                                      ExpiresIn=1)
    _time.sleep(2.1)
    expired = _requests.get(short, timeout=10)
    assert expired.status_code == 403 and "expired" in expired.text

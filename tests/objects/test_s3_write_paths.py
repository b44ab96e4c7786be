"""The PUT paths (a small body in one hop, a large one pipelined) verify the signed payload
SHA-256 computed by the blob writer, and the C CRC64NVME gives the standard values."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from cove.objects._checksums import checksum_of, combine_crc
from tests.edge.test_sigv4 import _creds, _missing, _s3_error, _send, _sign

MiB = 1024 * 1024


@pytest.mark.parametrize("size", [14, 9 * MiB])  # under and over the one-hop limit (8 MiB)
def test_tampered_payload_is_refused_and_changes_nothing(cove: Any, s3: Any, bucket: str,
                                                         size: int) -> None:
    key = f"tampered-{size}"
    url = f"{cove.url}/{bucket}/{key}"
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    headers = _sign("PUT", url, _creds(cove), body=body)
    evil = b"!" + body[1:]
    r = _send("PUT", url, headers, evil)
    assert r.status_code == 400, r.text
    assert _s3_error(r)[0] == "XAmzContentSHA256Mismatch"
    assert _missing(s3, bucket, key)
    assert _send("PUT", url, headers, body).status_code == 200
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body


def test_tampered_part_is_refused(cove: Any, s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    url = f"{cove.url}/{bucket}/mp?partNumber=1&uploadId={uid}"
    body = b"part bytes" * 1000
    headers = _sign("PUT", url, _creds(cove), body=body)
    r = _send("PUT", url, headers, b"P" + body[1:])
    assert r.status_code == 400 and _s3_error(r)[0] == "XAmzContentSHA256Mismatch"
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)


@pytest.mark.parametrize("size", [3, 2 * MiB, 9 * MiB])
def test_sha256_checksum_shares_the_payload_hash(s3: Any, bucket: str, size: int) -> None:
    body = b"s" * size
    answer = s3.put_object(Bucket=bucket, Key="sha", Body=body, ChecksumAlgorithm="SHA256")
    assert answer["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    head = s3.head_object(Bucket=bucket, Key="sha", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == answer["ChecksumSHA256"]
    assert hashlib.md5(body).hexdigest() in head["ETag"]


def test_crc64nvme_standard_values(s3: Any, bucket: str) -> None:
    # The CRC-64/NVME check value: crc("123456789") = 0xAE8B14860A799888.
    assert checksum_of("CRC64NVME", b"123456789") == \
        base64.b64encode(bytes.fromhex("AE8B14860A799888")).decode()
    whole = checksum_of("CRC64NVME", b"abcdef")
    assert combine_crc("CRC64NVME", [(checksum_of("CRC64NVME", b"abc"), 3),
                                     (checksum_of("CRC64NVME", b"def"), 3)]) == whole
    answer = s3.put_object(Bucket=bucket, Key="c", Body=b"123456789",
                           ChecksumAlgorithm="CRC64NVME")
    assert answer["ChecksumCRC64NVME"] == checksum_of("CRC64NVME", b"123456789")

"""Each part's checksum of a multipart object, through boto3: a GET of ``PartNumber=N`` and
GetObjectAttributes' ObjectParts answer the checksum the part was uploaded with."""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Any

import pytest

MIB = 1 << 20


def _sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@pytest.mark.parametrize(("algorithm", "kind", "digest"),
                         [("SHA256", "COMPOSITE", _sha256), ("CRC32", "FULL_OBJECT", _crc32)])
def test_parts_answer_their_own_checksums(s3: Any, bucket: str, algorithm: str, kind: str,
                                          digest: Any) -> None:
    bodies = [b"a" * (5 * MIB), b"tail of the object"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=algorithm,
                                        ChecksumType=kind)["UploadId"]
    parts = []
    for number, body in enumerate(bodies, start=1):
        answer = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=number,
                                Body=body, ChecksumAlgorithm=algorithm)
        assert answer[f"Checksum{algorithm}"] == digest(body)
        parts.append({"ETag": answer["ETag"], "PartNumber": number,
                      f"Checksum{algorithm}": answer[f"Checksum{algorithm}"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload,
                                        MultipartUpload={"Parts": parts})
    for number, body in enumerate(bodies, start=1):
        got = s3.get_object(Bucket=bucket, Key="k", PartNumber=number)
        assert got["Body"].read() == body
        assert got[f"Checksum{algorithm}"] == digest(body)
        assert got["ChecksumType"] == kind
    attributes = s3.get_object_attributes(Bucket=bucket, Key="k",
                                          ObjectAttributes=["Checksum", "ObjectParts"])
    assert attributes["Checksum"][f"Checksum{algorithm}"] == done[f"Checksum{algorithm}"]
    listed = attributes["ObjectParts"]["Parts"]
    assert [p[f"Checksum{algorithm}"] for p in listed] == [digest(b) for b in bodies]
    # a copy keeps the parts' checksums with its parts
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k"})
    copied = s3.get_object(Bucket=bucket, Key="copy", PartNumber=2)
    assert copied[f"Checksum{algorithm}"] == digest(bodies[1])


def test_parts_without_checksums_answer_none(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="plain")["UploadId"]
    answer = s3.upload_part(Bucket=bucket, Key="plain", UploadId=upload, PartNumber=1,
                            Body=b"only part")
    s3.complete_multipart_upload(Bucket=bucket, Key="plain", UploadId=upload, MultipartUpload={
        "Parts": [{"ETag": answer["ETag"], "PartNumber": 1}]})
    got = s3.get_object(Bucket=bucket, Key="plain", PartNumber=1)
    assert got["Body"].read() == b"only part"
    assert not [k for k in got if k.startswith("Checksum") and k != "ChecksumType"]
    attributes = s3.get_object_attributes(Bucket=bucket, Key="plain",
                                          ObjectAttributes=["ObjectParts"])
    assert attributes["ObjectParts"]["Parts"] == [{"PartNumber": 1, "Size": 9}]

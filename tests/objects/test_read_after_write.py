"""Read-after-write holds while readers hammer the key being rewritten (GET and HEAD answer
from a metadata cache that every write clears before it is acknowledged)."""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError


def test_every_acknowledged_write_is_seen_by_the_next_read(cove: Any, bucket: str) -> None:
    s3 = cove.client("s3")
    s3.put_object(Bucket=bucket, Key="k", Body=b"0")
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        client = cove.client("s3")
        while not stop.is_set():
            try:
                client.head_object(Bucket=bucket, Key="k")
                client.get_object(Bucket=bucket, Key="k")["Body"].read()
            except ClientError as exc:  # the key always exists: any error is a failure
                errors.append(exc)
                return

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        for n in range(1, 40):
            etag = s3.put_object(Bucket=bucket, Key="k", Body=str(n).encode())["ETag"]
            assert s3.head_object(Bucket=bucket, Key="k")["ETag"] == etag
            assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == str(n).encode()
    finally:
        stop.set()
        for thread in readers:
            thread.join(60)
    assert not errors
    s3.delete_object(Bucket=bucket, Key="k")
    try:
        s3.head_object(Bucket=bucket, Key="k")
        raise AssertionError("a deleted key was still found")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] in ("404", "NoSuchKey")

"""A crash never exposes a partial object and loses nothing acknowledged."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

MiB = 1024 * 1024


def _blob_files(home: Path) -> set[str]:
    return {p.name for p in (home / "objects" / "blobs").rglob("*") if p.is_file()}


def test_kill_during_large_upload(fresh_cove: Any, tmp_path: Path) -> None:
    s3 = fresh_cove.client("s3")
    s3.create_bucket(Bucket="durable")
    earlier = {f"earlier/{i}": os.urandom(200_000 + i) for i in range(5)}
    for key, body in earlier.items():
        s3.put_object(Bucket="durable", Key=key, Body=body)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(120 * MiB))
    failure: list[BaseException] = []

    def upload() -> None:
        try:
            s3.upload_file(str(big), "durable", "big.bin", Config=TransferConfig(
                multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4))
        except (BotoCoreError, ClientError, OSError) as exc:
            failure.append(exc)

    thread = threading.Thread(target=upload)
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # kill once some parts have landed
        if len(_blob_files(fresh_cove.home)) >= len(earlier) + 3:
            break
        time.sleep(0.01)
    fresh_cove.kill()
    thread.join(60)
    assert failure, "the upload should have been cut off by the crash"

    fresh_cove.start()
    s3 = fresh_cove.client("s3")
    for key, body in earlier.items():
        assert s3.get_object(Bucket="durable", Key=key)["Body"].read() == body
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="durable").get("Contents", [])]
    if "big.bin" in keys:  # complete or absent, never partial
        got = s3.get_object(Bucket="durable", Key="big.bin")["Body"].read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(big.read_bytes()).digest()
    # the interrupted upload is still listed and can be aborted; nothing else lingers
    for upload_info in s3.list_multipart_uploads(Bucket="durable").get("Uploads", []):
        s3.abort_multipart_upload(Bucket="durable", Key=upload_info["Key"],
                                  UploadId=upload_info["UploadId"])
    big_parts = 0
    if "big.bin" in keys:
        big_parts = int(s3.head_object(Bucket="durable", Key="big.bin")["ETag"].strip('"')
                        .split("-")[1])
    deadline = time.monotonic() + 30  # the aborted upload's parts go after its answer
    while len(_blob_files(fresh_cove.home)) != len(earlier) + big_parts and \
            time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(_blob_files(fresh_cove.home)) == len(earlier) + big_parts


def test_kill_during_single_put_leaves_nothing(fresh_cove: Any) -> None:
    s3 = fresh_cove.client("s3")
    s3.create_bucket(Bucket="half")
    size = 64 * MiB
    sock = fresh_cove.send_signed_head("PUT", "/half/partial", {
        "Content-Length": str(size), "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    sock.sendall(os.urandom(size // 2))  # half the body, then the crash
    deadline = time.monotonic() + 60  # once the server is writing it (not a guessed 0.5 s)
    while not _blob_files(fresh_cove.home) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _blob_files(fresh_cove.home), "the server never began writing the body"
    fresh_cove.kill()
    sock.close()
    fresh_cove.start()
    s3 = fresh_cove.client("s3")
    assert s3.list_objects_v2(Bucket="half")["KeyCount"] == 0
    assert _blob_files(fresh_cove.home) == set()  # the partial blob was swept at start


def test_restart_keeps_everything(fresh_cove: Any) -> None:
    s3 = fresh_cove.client("s3")
    s3.create_bucket(Bucket="keep")
    s3.put_object(Bucket="keep", Key="k", Body=b"still here", Metadata={"m": "v"})
    uid = s3.create_multipart_upload(Bucket="keep", Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket="keep", Key="mp", UploadId=uid, PartNumber=1,
                          Body=b"part")["ETag"]
    fresh_cove.restart()
    s3 = fresh_cove.client("s3")
    got = s3.get_object(Bucket="keep", Key="k")
    assert got["Body"].read() == b"still here" and got["Metadata"] == {"m": "v"}
    s3.complete_multipart_upload(Bucket="keep", Key="mp", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket="keep", Key="mp")["Body"].read() == b"part"


def test_kill_during_concurrent_puts_keeps_every_acknowledged_object(fresh_cove: Any) -> None:
    """Concurrent PUTs share index transactions (group commit): a kill -9 in the middle loses
    none that were answered 200, and shows no object that is not whole."""
    s3 = fresh_cove.client("s3")
    s3.create_bucket(Bucket="many")
    sent: dict[str, bytes] = {}
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n: int) -> None:
        client = fresh_cove.client("s3")
        for i in range(200):
            if stop.is_set():
                return
            key, body = f"w{n}/{i}", os.urandom(64 * 1024 + i)
            with lock:
                sent[key] = body
            try:
                etag = client.put_object(Bucket="many", Key=key, Body=body)["ETag"]
            except (BotoCoreError, ClientError, OSError):
                return  # cut off by the crash
            with lock:
                acknowledged[key] = etag

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    fresh_cove.kill()
    stop.set()
    for thread in threads:
        thread.join(60)
    assert len(acknowledged) >= 40

    fresh_cove.start()
    s3 = fresh_cove.client("s3")
    listed = {o["Key"]: o["ETag"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket="many") for o in page.get("Contents", [])}
    assert set(acknowledged) <= set(listed)
    for key, etag in listed.items():  # acknowledged or in flight: whole either way
        body = s3.get_object(Bucket="many", Key=key)["Body"].read()
        assert body == sent[key]
        assert etag == f'"{hashlib.md5(body).hexdigest()}"'
        if key in acknowledged:
            assert acknowledged[key] == etag
    assert len(_blob_files(fresh_cove.home)) == len(listed)  # no orphan survives the sweep


def test_concurrent_conditional_creates_let_exactly_one_win(cove: Any, bucket: str) -> None:
    """Writers racing with If-None-Match: * on one key share a transaction: each is checked
    against the rows written before it, so one wins and every other gets 412."""
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def create(n: int) -> None:
        client = cove.client("s3")
        start.wait(30)
        try:
            client.put_object(Bucket=bucket, Key="once", Body=f"writer {n}".encode(),
                              IfNoneMatch="*")
            outcome = f"won {n}"
        except ClientError as exc:
            outcome = str(exc.response["Error"]["Code"])
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1, outcomes
    assert sorted(set(outcomes) - set(winners)) == ["PreconditionFailed"]
    body = cove.client("s3").get_object(Bucket=bucket, Key="once")["Body"].read()
    assert body == f"writer {winners[0].split()[1]}".encode()

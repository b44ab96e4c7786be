"""Input channels are copies of the stored objects: a job that writes into its input directory
changes its own copy, never what GetObject returns (nor its ETag)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CoveServer
from tests.training.helpers import script_job, unique, upload_source, wait

TAMPER = """
import os
channel = os.environ["SM_CHANNEL_TRAIN"]
for name in sorted(os.listdir(channel)):
    path = os.path.join(channel, name)
    print("links", name, os.stat(path).st_nlink)
    with open(path, "r+b") as f:
        f.write(b"TAMPERED")
    os.chmod(path, 0o777)
    if name == "big.csv":
        os.truncate(path, 3)
"""


def test_a_job_that_writes_into_its_inputs_changes_no_stored_object(cove: CoveServer,
                                                                    bucket: str) -> None:
    s3, sm = cove.client("s3"), cove.client("sagemaker")
    small = b"a,b\n1,2\n3,4\n"
    s3.put_object(Bucket=bucket, Key="data/train.csv", Body=small)
    big = b"x" * (6 << 20)  # a multipart object: its parts are concatenated, not linked
    upload = s3.create_multipart_upload(Bucket=bucket, Key="data/big.csv")
    parts = [s3.upload_part(Bucket=bucket, Key="data/big.csv", UploadId=upload["UploadId"],
                            PartNumber=n, Body=chunk)["ETag"]
             for n, chunk in ((1, big[:5 << 20]), (2, big[5 << 20:]))]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="data/big.csv", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e}
                                   for n, e in enumerate(parts)]})
    before = {key: _state(s3, bucket, key) for key in ("data/train.csv", "data/big.csv")}
    name = unique("tamper")
    source = upload_source(s3, bucket, {"train.py": TAMPER})
    sm.create_training_job(**script_job(name, bucket, source,
                                        channels={"train": f"s3://{bucket}/data"}))
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    after = {key: _state(s3, bucket, key) for key in before}
    assert after == before
    assert hashlib.md5(small).hexdigest() in before["data/train.csv"][0]


def _state(s3: Any, bucket: str, key: str) -> tuple[str, str, int]:
    head = s3.head_object(Bucket=bucket, Key=key)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return head["ETag"], hashlib.sha256(body).hexdigest(), len(body)


def test_materialize_copies_and_refuses_an_existing_target(tmp_path: Path) -> None:
    from cove.meta import Database
    from cove.objects import LocalObjectStore

    store = LocalObjectStore(Database(f"sqlite:///{tmp_path / 'cove.db'}", migrate=True),
                             tmp_path / "objs")
    store.create_bucket("b", "us-east-1")
    source = tmp_path / "source"
    source.write_bytes(b"stored bytes")
    info = store.put_file("b", "k", source)
    target = tmp_path / "channel" / "k"
    store.materialize(info, target)
    assert target.stat().st_nlink == 1
    with open(target, "r+b") as f:
        f.write(b"TAMPERED")
    assert store.read(store.head_object("b", "k"), 0, 100) == b"stored bytes"
    planted = tmp_path / "channel" / "planted"
    planted.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):  # never written through a link someone left there
        store.materialize(info, planted)
    assert not (tmp_path / "elsewhere").exists()

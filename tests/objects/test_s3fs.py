"""s3fs (aiobotocore) and pandas' s3:// support against a cove server."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import s3fs

from tests.conftest import CoveServer


def storage_options(cove: CoveServer) -> dict[str, Any]:
    c = cove.credentials
    return {"key": c["access_key_id"], "secret": c["secret_access_key"],
            "client_kwargs": {"endpoint_url": cove.url, "region_name": "us-east-1"}}


def new_fs(cove: CoveServer) -> s3fs.S3FileSystem:
    """A filesystem with no cached listings from earlier instances."""
    return s3fs.S3FileSystem(skip_instance_cache=True, **storage_options(cove))


@pytest.fixture
def fs(cove: CoveServer) -> s3fs.S3FileSystem:
    return new_fs(cove)


def test_open_write_read_ls_info_cat(fs: s3fs.S3FileSystem, s3: Any, bucket: str) -> None:
    with fs.open(f"{bucket}/data/hello.txt", "wb") as f:
        f.write(b"hello ")
        f.write(b"s3fs\n")
    with fs.open(f"{bucket}/data/sub/nested.txt", "w") as f:
        f.write("nested ✓\n")

    # visible to a plain S3 client too
    assert s3.get_object(Bucket=bucket, Key="data/hello.txt")["Body"].read() == b"hello s3fs\n"

    with fs.open(f"{bucket}/data/hello.txt", "rb") as f:
        assert f.read() == b"hello s3fs\n"
    assert fs.cat(f"{bucket}/data/hello.txt") == b"hello s3fs\n"
    assert fs.cat_file(f"{bucket}/data/hello.txt", start=6, end=10) == b"s3fs"
    assert fs.cat(f"{bucket}/data/sub/nested.txt").decode() == "nested ✓\n"

    assert sorted(fs.ls(f"{bucket}/data")) == [
        f"{bucket}/data/hello.txt", f"{bucket}/data/sub"]
    detail = {e["name"]: e for e in fs.ls(f"{bucket}/data", detail=True)}
    assert detail[f"{bucket}/data/hello.txt"]["type"] == "file"
    assert detail[f"{bucket}/data/hello.txt"]["size"] == len(b"hello s3fs\n")
    assert detail[f"{bucket}/data/sub"]["type"] == "directory"
    assert fs.ls(bucket) == [f"{bucket}/data"]

    info = fs.info(f"{bucket}/data/hello.txt")
    assert info["type"] == "file"
    assert info["size"] == len(b"hello s3fs\n")
    assert info["ETag"] == s3.head_object(Bucket=bucket, Key="data/hello.txt")["ETag"]
    assert fs.info(f"{bucket}/data/sub")["type"] == "directory"
    assert fs.exists(f"{bucket}/data/hello.txt")
    assert not fs.exists(f"{bucket}/data/missing.txt")
    with pytest.raises(FileNotFoundError):
        fs.info(f"{bucket}/data/missing.txt")


def test_find_and_rm(fs: s3fs.S3FileSystem, bucket: str, cove: CoveServer) -> None:
    keys = ["a.txt", "dir/b.txt", "dir/c.txt", "dir/deep/d.txt", "other/e.txt"]
    for key in keys:
        fs.pipe_file(f"{bucket}/{key}", key.encode())

    assert fs.find(bucket) == sorted(f"{bucket}/{k}" for k in keys)
    assert fs.find(f"{bucket}/dir") == [
        f"{bucket}/dir/b.txt", f"{bucket}/dir/c.txt", f"{bucket}/dir/deep/d.txt"]
    assert sorted(fs.glob(f"{bucket}/dir/*.txt")) == [
        f"{bucket}/dir/b.txt", f"{bucket}/dir/c.txt"]
    assert fs.du(f"{bucket}/dir") == sum(len(k) for k in keys if k.startswith("dir/"))

    fs.rm(f"{bucket}/a.txt")
    fs.rm(f"{bucket}/dir", recursive=True)
    remaining = new_fs(cove)
    assert remaining.find(bucket) == [f"{bucket}/other/e.txt"]
    assert not remaining.exists(f"{bucket}/dir/b.txt")
    assert not remaining.exists(f"{bucket}/a.txt")
    assert remaining.cat(f"{bucket}/other/e.txt") == b"other/e.txt"


def test_large_file_multipart_write(fs: s3fs.S3FileSystem, s3: Any, bucket: str) -> None:
    # s3fs flushes its buffer as one part whenever it reaches block_size (and sends
    # everything buffered as a single part), so block-sized writes of a 12 MiB file
    # make a three-part multipart upload: 5 MiB + 5 MiB + 2 MiB.
    block = 5 * 1024 * 1024
    data = np.random.default_rng(0).bytes(12 * 1024 * 1024 + 7)
    with fs.open(f"{bucket}/big.bin", "wb", block_size=block) as f:
        for start in range(0, len(data), block):
            f.write(data[start:start + block])
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]
    assert fs.cat(f"{bucket}/big.bin") == data
    with fs.open(f"{bucket}/big.bin", "rb", block_size=1024 * 1024) as f:
        f.seek(5 * 1024 * 1024 - 3)
        assert f.read(10) == data[5 * 1024 * 1024 - 3:5 * 1024 * 1024 + 7]


def test_pandas_csv_round_trip(cove: CoveServer, s3: Any, bucket: str) -> None:
    df = pd.DataFrame({
        "id": np.arange(500, dtype="int64"),
        "x": np.random.default_rng(1).random(500),
        "label": [f"row {i} ✓, \"quoted\"" for i in range(500)],
        "flag": [i % 3 == 0 for i in range(500)],
    })
    df.to_csv(f"s3://{bucket}/x.csv", index=False, storage_options=storage_options(cove))

    raw = s3.get_object(Bucket=bucket, Key="x.csv")["Body"].read().decode()
    assert raw.splitlines()[0] == "id,x,label,flag"

    back = pd.read_csv(f"s3://{bucket}/x.csv", storage_options=storage_options(cove))
    pd.testing.assert_frame_equal(back, df, check_exact=True)


def test_pandas_sees_overwrite(cove: CoveServer, bucket: str) -> None:
    opts = storage_options(cove)
    pd.DataFrame({"a": [1, 2]}).to_csv(f"s3://{bucket}/y.csv", index=False,
                                       storage_options=opts)
    first = pd.read_csv(f"s3://{bucket}/y.csv", storage_options=opts)
    pd.testing.assert_frame_equal(first, pd.DataFrame({"a": [1, 2]}))

    pd.DataFrame({"a": [3, 4, 5]}).to_csv(f"s3://{bucket}/y.csv", index=False,
                                          storage_options=opts)
    fresh = {**opts, "skip_instance_cache": True}
    second = pd.read_csv(f"s3://{bucket}/y.csv", storage_options=fresh)
    pd.testing.assert_frame_equal(second, pd.DataFrame({"a": [3, 4, 5]}))

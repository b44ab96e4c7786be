"""The real aws CLI (high-level `aws s3` and low-level `aws s3api`) against a cove server."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CoveServer

AWS = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "aws")
MIB = 1024 * 1024


def aws(cove: CoveServer, *args: str, check: bool = True,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `aws <args> --endpoint-url <cove>` with cove's credentials in the environment."""
    proc = subprocess.run(
        [AWS, *args, "--endpoint-url", cove.url],
        env={**os.environ, **cove.env()}, capture_output=True, text=True,
        encoding="utf-8", timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"aws {' '.join(args)} exited {proc.returncode}\n"
                    f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}\n"
                    f"server log:\n{cove.log_tail()}")
    return proc


def ls_entries(stdout: str) -> tuple[set[str], dict[str, int]]:
    """Parse `aws s3 ls` output into ({"PRE" prefixes}, {name: size})."""
    prefixes: set[str] = set()
    objects: dict[str, int] = {}
    for line in stdout.splitlines():
        if not line.strip():
            continue
        stripped = line.strip()
        if stripped.startswith("PRE "):
            prefixes.add(stripped[len("PRE "):])
            continue
        # "2024-01-01 12:00:00       1234 some key with spaces"
        _date, _time, size, name = line.split(None, 3)
        objects[name] = int(size)
    return prefixes, objects


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def all_keys(s3: Any, bucket: str) -> set[str]:
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update(o["Key"] for o in page.get("Contents", []))
    return keys


def test_mb_ls_rb(cove: CoveServer, s3: Any) -> None:
    name = f"cli-{uuid.uuid4().hex[:12]}"
    out = aws(cove, "s3", "mb", f"s3://{name}")
    assert f"make_bucket: {name}" in out.stdout
    assert name in {b["Name"] for b in s3.list_buckets()["Buckets"]}

    listing = aws(cove, "s3", "ls").stdout
    names = {line.split(None, 2)[2] for line in listing.splitlines() if line.strip()}
    assert name in names

    out = aws(cove, "s3", "rb", f"s3://{name}")
    assert f"remove_bucket: {name}" in out.stdout
    assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_cp_small_and_multipart_round_trip(cove: CoveServer, s3: Any, bucket: str,
                                           tmp_path: Path) -> None:
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello from the aws cli\n" * 10)
    big = tmp_path / "big.bin"
    big_data = os.urandom(9 * MIB + 12345)  # > 8 MiB default multipart_threshold
    big.write_bytes(big_data)

    aws(cove, "s3", "cp", str(small), f"s3://{bucket}/docs/small.txt")
    aws(cove, "s3", "cp", str(big), f"s3://{bucket}/blobs/big.bin")

    head = s3.head_object(Bucket=bucket, Key="blobs/big.bin")
    assert head["ContentLength"] == len(big_data)
    # 8 MiB chunks: 2 parts -> a multipart ETag "<md5>-2"
    assert head["ETag"].strip('"').endswith("-2"), head["ETag"]
    assert s3.get_object(Bucket=bucket, Key="blobs/big.bin")["Body"].read() == big_data
    assert s3.get_object(Bucket=bucket, Key="docs/small.txt")["Body"].read() == \
        small.read_bytes()

    down = tmp_path / "down"
    down.mkdir()
    aws(cove, "s3", "cp", f"s3://{bucket}/docs/small.txt", str(down / "small.txt"))
    aws(cove, "s3", "cp", f"s3://{bucket}/blobs/big.bin", str(down / "big.bin"))
    assert (down / "small.txt").read_bytes() == small.read_bytes()
    assert (down / "big.bin").read_bytes() == big_data


def test_ls_prefixes_and_recursive(cove: CoveServer, s3: Any, bucket: str) -> None:
    bodies = {"top.txt": b"t", "a/one.txt": b"11", "a/two.txt": b"222",
              "a/deep/three.txt": b"3333", "b/four.txt": b"44444"}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)

    prefixes, objects = ls_entries(aws(cove, "s3", "ls", f"s3://{bucket}").stdout)
    assert prefixes == {"a/", "b/"}
    assert objects == {"top.txt": 1}

    prefixes, objects = ls_entries(aws(cove, "s3", "ls", f"s3://{bucket}/a/").stdout)
    assert prefixes == {"deep/"}
    assert objects == {"one.txt": 2, "two.txt": 3}

    prefixes, objects = ls_entries(
        aws(cove, "s3", "ls", f"s3://{bucket}", "--recursive").stdout)
    assert prefixes == set()
    assert objects == {key: len(body) for key, body in bodies.items()}

    # a tiny page size, so --recursive must follow continuation tokens across pages
    _, objects = ls_entries(aws(cove, "s3", "ls", f"s3://{bucket}", "--recursive",
                                "--page-size", "2").stdout)
    assert objects == {key: len(body) for key, body in bodies.items()}
    prefixes, objects = ls_entries(
        aws(cove, "s3", "ls", f"s3://{bucket}/", "--page-size", "1").stdout)
    assert prefixes == {"a/", "b/"}
    assert objects == {"top.txt": 1}


def test_sync_up_and_down(cove: CoveServer, s3: Any, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = {
        "root.txt": b"root file\n",
        "nested/one.txt": b"one\n",
        "nested/deeper/two.bin": os.urandom(4096),
        "dir with spaces/file with spaces.txt": b"spaces\n",
        "ünïcødé/naïve café ☕.txt": "unicode ✓\n".encode(),
        "empty.txt": b"",
    }
    for rel, data in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    aws(cove, "s3", "sync", str(src), f"s3://{bucket}/tree")
    assert all_keys(s3, bucket) == {f"tree/{rel}" for rel in files}
    for rel, data in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"tree/{rel}")["Body"].read() == data

    # A second sync with nothing changed uploads nothing.
    again = aws(cove, "s3", "sync", str(src), f"s3://{bucket}/tree")
    assert "upload:" not in again.stdout, again.stdout

    dest = tmp_path / "dest"
    aws(cove, "s3", "sync", f"s3://{bucket}/tree", str(dest))
    assert tree(dest) == files

    # Changes propagate: a modified file and a new one; --delete removes a gone one.
    (src / "nested/one.txt").write_bytes(b"one, but longer now\n")
    (src / "added.txt").write_bytes(b"added\n")
    (src / "root.txt").unlink()
    out = aws(cove, "s3", "sync", str(src), f"s3://{bucket}/tree", "--delete").stdout
    assert f"s3://{bucket}/tree/added.txt" in out
    assert f"delete: s3://{bucket}/tree/root.txt" in out
    aws(cove, "s3", "sync", f"s3://{bucket}/tree", str(dest), "--delete")
    assert tree(dest) == tree(src)


def test_rm_recursive_and_rb_force(cove: CoveServer, s3: Any, tmp_path: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:12]}"
    aws(cove, "s3", "mb", f"s3://{name}")
    for key in ("keep/a.txt", "gone/b.txt", "gone/sub/c.txt"):
        s3.put_object(Bucket=name, Key=key, Body=key.encode())

    out = aws(cove, "s3", "rm", f"s3://{name}/gone/", "--recursive").stdout
    assert f"delete: s3://{name}/gone/b.txt" in out
    assert f"delete: s3://{name}/gone/sub/c.txt" in out
    assert all_keys(s3, name) == {"keep/a.txt"}

    failed = aws(cove, "s3", "rb", f"s3://{name}", check=False)
    assert failed.returncode != 0
    assert "BucketNotEmpty" in failed.stderr, failed.stderr
    assert name in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert all_keys(s3, name) == {"keep/a.txt"}

    out = aws(cove, "s3", "rb", f"s3://{name}", "--force").stdout
    assert f"delete: s3://{name}/keep/a.txt" in out
    assert f"remove_bucket: {name}" in out
    assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_s3api_object_metadata(cove: CoveServer, bucket: str, tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b'{"answer": 42}\n')

    put = json.loads(aws(
        cove, "s3api", "put-object", "--bucket", bucket, "--key", "meta/doc.json",
        "--body", str(body), "--content-type", "application/json",
        "--cache-control", "max-age=60", "--content-disposition", "inline",
        "--metadata", "owner=alice,purpose=testing").stdout)
    assert put["ETag"].strip('"')

    head = json.loads(aws(
        cove, "s3api", "head-object", "--bucket", bucket, "--key", "meta/doc.json").stdout)
    assert head["ContentLength"] == len(body.read_bytes())
    assert head["ContentType"] == "application/json"
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentDisposition"] == "inline"
    assert head["Metadata"] == {"owner": "alice", "purpose": "testing"}
    assert head["ETag"] == put["ETag"]

    out = tmp_path / "out.json"
    got = json.loads(aws(
        cove, "s3api", "get-object", "--bucket", bucket, "--key", "meta/doc.json",
        str(out)).stdout)
    assert out.read_bytes() == body.read_bytes()
    assert got["Metadata"] == {"owner": "alice", "purpose": "testing"}
    assert got["ContentType"] == "application/json"
    assert got["ETag"] == put["ETag"]

    missing = aws(cove, "s3api", "head-object", "--bucket", bucket, "--key", "nope",
                  check=False)
    assert missing.returncode != 0
    assert "404" in missing.stderr or "Not Found" in missing.stderr, missing.stderr

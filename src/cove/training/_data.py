"""How a training host reaches the object store: on this machine, straight through the store
(channels are hard links to blobs, ``LocalDataPlane``); on another machine (a Ray node),
through cove's S3 API with the job's credentials (``S3DataPlane``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from cove import errors
from cove.objects import LocalObjectStore, ObjectInfo
from cove.sagemaker import parse_s3_uri


class DataPlane(Protocol):
    def fetch_channel(self, channel: dict[str, Any], target: Path,
                      shard: tuple[int, int] = (0, 1)) -> int:
        """Materialize a channel's objects under ``target``; returns how many.  ``shard``
        (index, count) takes every count-th object by key from the index-th
        (ShardedByS3Key: each host its own share)."""
        ...

    def fetch_object(self, uri: str, target: Path) -> None: ...

    def upload_file(self, path: Path, uri: str, content_type: str) -> None: ...

    def count_objects(self, uri: str) -> int: ...


class LocalDataPlane:
    def __init__(self, store: LocalObjectStore) -> None:
        self.store = store

    def fetch_channel(self, channel: dict[str, Any], target: Path,
                      shard: tuple[int, int] = (0, 1)) -> int:
        count = 0
        objects = sorted(self._channel_objects(channel), key=lambda o: (o[0].bucket, o[0].key))
        for info, relative in objects[shard[0]::shard[1]]:
            self.store.materialize(info, _safe_join(target, relative))
            count += 1
        return count

    def fetch_object(self, uri: str, target: Path) -> None:
        bucket, key = parse_s3_uri(uri)
        self.store.materialize(self.store.head_object(bucket, key), target)

    def upload_file(self, path: Path, uri: str, content_type: str) -> None:
        bucket, key = parse_s3_uri(uri)
        self.store.put_file(bucket, key, path, content_type)

    def count_objects(self, uri: str) -> int:
        bucket, prefix = parse_s3_uri(uri)
        return sum(1 for _ in zip(range(1), self.store.walk(bucket, prefix), strict=False))

    def _channel_objects(self, channel: dict[str, Any]) -> list[tuple[ObjectInfo, str]]:
        source = channel["DataSource"]["S3DataSource"]
        bucket, prefix = parse_s3_uri(source["S3Uri"], "S3Uri")
        if source.get("S3DataType", "S3Prefix") == "ManifestFile":
            return read_manifest(self.store, bucket, prefix)
        # Keys land relative to the prefix (s3://b/data/train + data/train/x.csv -> x.csv); a URI
        # naming one object gives that object under its own name.
        return [(info, info.key[len(prefix):].lstrip("/") or info.key.rsplit("/", 1)[-1])
                for info in self.store.walk(bucket, prefix)]


def read_manifest(store: LocalObjectStore, bucket: str, key: str) -> list[tuple[ObjectInfo, str]]:
    """The objects a manifest file lists (``[{"prefix": "s3://b/p/"}, "rel/key", ...]``), each
    with its key relative to the manifest's prefix.  ValidationError for a malformed manifest;
    NoSuchKey/NoSuchBucket for a listed object that does not exist."""
    raw = store.read(store.head_object(bucket, key), 0, 64 << 20)
    try:
        entries = json.loads(raw)
        manifest_prefix = entries[0]["prefix"]
        if not all(isinstance(entry, str) for entry in entries[1:]):
            raise TypeError("entries after the prefix must be strings")
    except (ValueError, LookupError, TypeError) as exc:
        raise errors.ValidationError(f"s3://{bucket}/{key} is not a manifest file: "
                                     '[{"prefix": "s3://..."}, "relative/key", ...]') from exc
    mbucket, mprefix = parse_s3_uri(manifest_prefix)
    return [(store.head_object(mbucket, mprefix + rel), rel) for rel in entries[1:]]


def _safe_join(root: Path, relative: str) -> Path:
    """``root / relative`` for an object key, refusing anything that would leave ``root``."""
    parts = [p for p in PurePosixPath(relative).parts if p not in ("", "/", ".")]
    if not parts or ".." in parts:
        raise errors.ValidationError(f"the object key part {relative!r} cannot be a file name")
    return root.joinpath(*parts)



class S3DataPlane:
    """The data plane of a host that runs away from cove's disk (on a Ray node): channels are
    downloaded and the model uploaded through cove's S3 API (or the external S3 backend cove
    points it at), signed with the job's own scoped credentials."""

    def __init__(self, access_env: dict[str, str]) -> None:
        import boto3
        from botocore.config import Config

        self.s3 = boto3.client(
            "s3", endpoint_url=access_env["AWS_ENDPOINT_URL"],
            region_name=access_env["AWS_REGION"],
            aws_access_key_id=access_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=access_env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=access_env.get("AWS_SESSION_TOKEN"),
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}))

    def fetch_channel(self, channel: dict[str, Any], target: Path,
                      shard: tuple[int, int] = (0, 1)) -> int:
        count = 0
        objects = sorted(self._channel_objects(channel))
        for bucket, key, relative in objects[shard[0]::shard[1]]:
            self._download(bucket, key, _safe_join(target, relative))
            count += 1
        return count

    def fetch_object(self, uri: str, target: Path) -> None:
        bucket, key = parse_s3_uri(uri)
        self._download(bucket, key, target)

    def upload_file(self, path: Path, uri: str, content_type: str) -> None:
        bucket, key = parse_s3_uri(uri)
        with _s3_errors(uri):
            self.s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})

    def count_objects(self, uri: str) -> int:
        bucket, prefix = parse_s3_uri(uri)
        with _s3_errors(uri):
            page = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        return int(page.get("KeyCount", 0))

    def _download(self, bucket: str, key: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _s3_errors(f"s3://{bucket}/{key}"):
            self.s3.download_file(bucket, key, str(target))

    def _channel_objects(self, channel: dict[str, Any]) -> list[tuple[str, str, str]]:
        source = channel["DataSource"]["S3DataSource"]
        bucket, prefix = parse_s3_uri(source["S3Uri"], "S3Uri")
        if source.get("S3DataType", "S3Prefix") == "ManifestFile":
            return self._manifest(bucket, prefix)
        keys = []
        with _s3_errors(source["S3Uri"]):
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=prefix):
                keys += [item["Key"] for item in page.get("Contents", [])]
        # The same naming as LocalDataPlane: relative to the prefix, or the object's own name.
        return [(bucket, key, key[len(prefix):].lstrip("/") or key.rsplit("/", 1)[-1])
                for key in keys]

    def _manifest(self, bucket: str, key: str) -> list[tuple[str, str, str]]:
        with _s3_errors(f"s3://{bucket}/{key}"):
            raw = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            entries = json.loads(raw)
            mbucket, mprefix = parse_s3_uri(entries[0]["prefix"])
            return [(mbucket, mprefix + rel, rel) for rel in entries[1:] if isinstance(rel, str)]
        except (ValueError, LookupError, TypeError) as exc:
            raise errors.ValidationError(f"s3://{bucket}/{key} is not a manifest file: "
                                         '[{"prefix": "s3://..."}, "relative/key", ...]') from exc


@contextmanager
def _s3_errors(uri: str) -> Iterator[None]:
    """botocore's errors, as the job's failure reason would name them."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise errors.ValidationError(
            f"{uri}: {error.get('Code', 'Error')}: {error.get('Message', exc)}") from exc
    except BotoCoreError as exc:
        raise errors.ServerError(f"{uri}: cannot reach cove's S3 API: {exc}") from exc

"""How a training host reaches the object store: on this machine, straight through the store
(channels are hard links to blobs); a remote executor would go through cove's S3 API."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from cove import errors
from cove.objects import LocalObjectStore, ObjectInfo
from cove.sagemaker import parse_s3_uri


class DataPlane(Protocol):
    def fetch_channel(self, channel: dict[str, Any], target: Path) -> int:
        """Materialize a channel's objects under ``target``; returns how many."""
        ...

    def fetch_object(self, uri: str, target: Path) -> None: ...

    def upload_file(self, path: Path, uri: str, content_type: str) -> None: ...

    def count_objects(self, uri: str) -> int: ...


class LocalDataPlane:
    def __init__(self, store: LocalObjectStore) -> None:
        self.store = store

    def fetch_channel(self, channel: dict[str, Any], target: Path) -> int:
        count = 0
        for info, relative in self._channel_objects(channel):
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


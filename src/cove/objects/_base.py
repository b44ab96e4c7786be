"""The object store's face: the values it returns and the interface a backend implements."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from cove.objects._blobs import WrittenBlob

DEFAULT_CONTENT_TYPE = "binary/octet-stream"


@dataclass(frozen=True)
class ObjectAttributes:
    """What a client sets on an object besides its bytes."""

    content_type: str = DEFAULT_CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)  # Content-Encoding, Cache-Control, ...
    user_metadata: dict[str, str] = field(default_factory=dict)  # x-amz-meta-* without prefix


@dataclass(frozen=True)
class Checksum:
    algorithm: str = ""
    value: str = ""
    type: str = ""  # FULL_OBJECT or COMPOSITE
    #: each part's checksum, in order, for an object a multipart upload made (what a GET of
    #: ``partNumber=N`` and GetObjectAttributes' ObjectParts answer)
    parts: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        if not self.algorithm:
            return {}
        stored: dict[str, Any] = {"algorithm": self.algorithm, "value": self.value,
                                  "type": self.type}
        if self.parts:
            stored["parts"] = list(self.parts)
        return stored

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Checksum:
        if not stored:
            return cls()
        return cls(stored["algorithm"], stored["value"], stored["type"],
                   tuple(stored.get("parts", ())))

    def of_part(self, number: int) -> Checksum:
        """Part ``number``'s (1-based) checksum, as its own Checksum ("" when not kept)."""
        if not 0 < number <= len(self.parts):
            return Checksum()
        return Checksum(self.algorithm, self.parts[number - 1], self.type)


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # quoted, as S3 returns it
    last_modified: float
    attributes: ObjectAttributes
    checksum: Checksum
    parts: tuple[tuple[str, int], ...]  # (blob id, size) in order
    version_id: str = "null"  # "null" unless written while the bucket's versioning was on


@dataclass(frozen=True)
class WriteCondition:
    """A conditional write's If-Match / If-None-Match, checked against the object it would
    replace inside the write's own transaction (so two racing writers cannot both pass)."""

    if_match: str | None = None
    if_none_match: str | None = None


NO_CONDITION = WriteCondition()


@dataclass(frozen=True)
class BucketInfo:
    name: str
    region: str
    created: float


@dataclass(frozen=True)
class Listing:
    objects: list[ObjectInfo]
    common_prefixes: list[str]
    is_truncated: bool
    next_marker: str  # the last key or common prefix returned; "" when not truncated


@dataclass(frozen=True)
class PartInfo:
    part_number: int
    size: int
    etag: str
    checksum: str
    last_modified: float


@dataclass(frozen=True)
class UploadInfo:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    attributes: ObjectAttributes
    checksum_algorithm: str
    checksum_type: str
    #: the object's owner and ACL to be (None: the bucket owner's, private)
    acl: dict[str, Any] | None = None


class ObjectStore(Protocol):
    """A bucket/key store with S3's semantics.

    Every method raises the ``cove.errors`` S3 error a client should see (``NoSuchBucket``,
    ``NoSuchKey``, ``BucketNotEmpty``, ``InvalidPart``, ...) and changes nothing when it raises.
    Bytes arrive as :class:`WrittenBlob` (already durable, owned by the store once passed in).
    """

    def create_bucket(self, name: str, region: str) -> BucketInfo: ...
    def get_bucket(self, name: str) -> BucketInfo: ...
    def list_buckets(self) -> list[BucketInfo]: ...
    def delete_bucket(self, name: str) -> None: ...

    def put_object(self, bucket: str, key: str, blob: WrittenBlob, attributes: ObjectAttributes,
                   checksum: Checksum, condition: WriteCondition = NO_CONDITION) -> ObjectInfo: ...
    def head_object(self, bucket: str, key: str) -> ObjectInfo: ...
    def iter_range(self, info: ObjectInfo, start: int, length: int) -> Iterator[bytes]: ...
    def delete_object(self, bucket: str, key: str) -> None: ...
    def copy_object(self, source: ObjectInfo, bucket: str, key: str,
                    attributes: ObjectAttributes) -> ObjectInfo: ...
    def list_objects(self, bucket: str, prefix: str = "", delimiter: str = "", marker: str = "",
                     max_keys: int = 1000) -> Listing: ...

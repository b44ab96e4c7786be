"""Multipart uploads: parts are blobs; completing an upload publishes them as one object."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, insert, select

from cove import errors
from cove.meta.tables import multipart_parts, multipart_uploads
from cove.objects import _checksums
from cove.objects._base import (
    NO_CONDITION,
    Checksum,
    ObjectAttributes,
    ObjectInfo,
    PartInfo,
    UploadInfo,
    WriteCondition,
)
from cove.objects._blobs import WrittenBlob

if TYPE_CHECKING:
    from cove.objects._store import LocalObjectStore

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000


class MultipartUploads:
    def __init__(self, store: LocalObjectStore) -> None:
        self.store = store
        self.db = store.db
        self.blobs = store.blobs

    def create(self, bucket: str, key: str, attributes: ObjectAttributes,
               checksum_algorithm: str = "", checksum_type: str = "",
               acl: dict[str, Any] | None = None) -> UploadInfo:
        """A new upload; ``acl`` is the object's owner and ACL to be (None: the bucket
        owner's, private), its owner the upload's initiator."""
        if checksum_algorithm and not checksum_type:
            checksum_type = "FULL_OBJECT" if checksum_algorithm == "CRC64NVME" else "COMPOSITE"
        info = UploadInfo(uuid.uuid4().hex, bucket, key, time.time(), attributes,
                          checksum_algorithm, checksum_type, acl)
        with self.db.write() as conn:
            self.store.require_bucket(conn, bucket)
            conn.execute(insert(multipart_uploads).values(
                upload_id=info.upload_id, bucket=bucket, key=key, initiated=info.initiated,
                content_type=attributes.content_type, headers=attributes.headers,
                user_metadata=attributes.user_metadata, checksum_algorithm=checksum_algorithm,
                checksum_type=checksum_type, acl=acl))
        return info

    def get(self, bucket: str, key: str, upload_id: str) -> UploadInfo:
        with self.db.read() as conn:
            return self._upload(conn, bucket, key, upload_id)

    def put_part(self, upload: UploadInfo, part_number: int, blob: WrittenBlob) -> PartInfo:
        checksum = blob.checksums.get(upload.checksum_algorithm, "")
        part = PartInfo(part_number, blob.size, f'"{blob.md5.hex()}"', checksum, time.time())
        def write(conn: Connection) -> list[str]:
            self._upload(conn, upload.bucket, upload.key, upload.upload_id)
            replaced = self._drop_parts(conn, upload.upload_id, part_number)
            conn.execute(insert(multipart_parts).values(
                upload_id=upload.upload_id, part_number=part_number, blob_id=blob.blob_id,
                size=blob.size, etag=part.etag, checksum=checksum,
                last_modified=part.last_modified))
            return replaced

        try:
            replaced = self.store.commits.run(write)
        except BaseException:
            self.blobs.delete([blob.blob_id])
            raise
        self.blobs.free(replaced)
        return part

    def complete(self, upload: UploadInfo, requested: list[tuple[int, str]],
                 expected_checksum: str = "",
                 condition: WriteCondition = NO_CONDITION) -> ObjectInfo:
        """Publish the listed parts (ascending numbers, matching ETags) as the object."""
        with self.db.read() as conn:
            stored = {row.part_number: row for row in conn.execute(
                select(multipart_parts).where(multipart_parts.c.upload_id == upload.upload_id))}
        chosen = _check_parts(requested, stored)
        info = ObjectInfo(
            bucket=upload.bucket, key=upload.key, size=sum(r.size for r in chosen),
            etag=_multipart_etag(chosen), last_modified=time.time(),
            attributes=upload.attributes, checksum=_object_checksum(upload, chosen),
            parts=tuple((r.blob_id, r.size) for r in chosen))
        if expected_checksum and expected_checksum not in (info.checksum.value,
                                                           info.checksum.value.split("-")[0]):
            raise errors.BadDigest(f"The {upload.checksum_algorithm} you specified for the "
                                   "object did not match the checksum of its parts.")
        unused = [r.blob_id for n, r in stored.items() if r not in chosen]

        def consume(conn: Connection) -> None:
            self._upload(conn, upload.bucket, upload.key, upload.upload_id)
            self._forget(conn, upload.upload_id)

        info = self.store.publish(info, new_blobs=[], conn_hook=consume, condition=condition,
                                  acl=upload.acl)
        self.blobs.free(unused)
        return info

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        with self.db.write() as conn:
            self._upload(conn, bucket, key, upload_id)
            freed = self._forget(conn, upload_id)
        self.blobs.free(freed)

    def list_parts(self, upload: UploadInfo, marker: int = 0,
                   max_parts: int = 1000) -> tuple[list[PartInfo], bool]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(multipart_parts)
                .where(and_(multipart_parts.c.upload_id == upload.upload_id,
                            multipart_parts.c.part_number > marker))
                .order_by(multipart_parts.c.part_number).limit(max_parts + 1)).all()
        parts = [PartInfo(r.part_number, r.size, r.etag, r.checksum, r.last_modified)
                 for r in rows]
        return parts[:max_parts], len(parts) > max_parts

    def list_uploads(self, bucket: str, prefix: str = "", key_marker: str = "",
                     upload_id_marker: str = "",
                     max_uploads: int = 1000) -> tuple[list[UploadInfo], bool]:
        with self.db.read() as conn:
            self.store.require_bucket(conn, bucket)
            rows = conn.execute(
                select(multipart_uploads).where(multipart_uploads.c.bucket == bucket)
                .order_by(multipart_uploads.c.key, multipart_uploads.c.upload_id)).all()
        chosen = [r for r in rows if r.key.startswith(prefix)
                  and (r.key, r.upload_id) > (key_marker, upload_id_marker)]
        return [_upload_info(r) for r in chosen[:max_uploads]], len(chosen) > max_uploads

    def forget_bucket(self, conn: Connection, bucket: str) -> list[str]:
        """Drop every upload of a bucket being deleted; returns the blobs to free."""
        ids = conn.execute(select(multipart_uploads.c.upload_id)
                           .where(multipart_uploads.c.bucket == bucket)).scalars().all()
        return [blob for upload_id in ids for blob in self._forget(conn, upload_id)]

    # --- internals --------------------------------------------------------------------------

    @staticmethod
    def _upload(conn: Connection, bucket: str, key: str, upload_id: str) -> UploadInfo:
        row = conn.execute(select(multipart_uploads).where(
            multipart_uploads.c.upload_id == upload_id)).first()
        if row is None or row.bucket != bucket or row.key != key:
            raise errors.NoSuchUpload(
                "The specified upload does not exist. The upload ID may be invalid, or the "
                "upload may have been aborted or completed.", UploadId=upload_id)
        return _upload_info(row)

    @staticmethod
    def _drop_parts(conn: Connection, upload_id: str, part_number: int | None = None) -> list[str]:
        where = multipart_parts.c.upload_id == upload_id
        if part_number is not None:
            where = and_(where, multipart_parts.c.part_number == part_number)
        blobs = list(conn.execute(select(multipart_parts.c.blob_id).where(where)).scalars())
        conn.execute(delete(multipart_parts).where(where))
        return blobs

    def _forget(self, conn: Connection, upload_id: str) -> list[str]:
        blobs = self._drop_parts(conn, upload_id)
        conn.execute(delete(multipart_uploads).where(multipart_uploads.c.upload_id == upload_id))
        return blobs


def _upload_info(row: Any) -> UploadInfo:
    return UploadInfo(row.upload_id, row.bucket, row.key, row.initiated,
                      ObjectAttributes(row.content_type, dict(row.headers),
                                       dict(row.user_metadata)),
                      row.checksum_algorithm, row.checksum_type, row.acl)


def _check_parts(requested: list[tuple[int, str]], stored: dict[int, Any]) -> list[Any]:
    numbers = [n for n, _ in requested]
    if any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)):
        raise errors.InvalidPartOrder("The list of parts was not in ascending order. Parts "
                                      "must be ordered by part number.")
    chosen = []
    for number, etag in requested:
        row = stored.get(number)
        if row is None or row.etag.strip('"') != etag.strip().strip('"'):
            raise errors.InvalidPart(
                "One or more of the specified parts could not be found. The part may not have "
                "been uploaded, or the specified entity tag may not match the part's entity tag.",
                PartNumber=str(number), ETag=etag)
        chosen.append(row)
    for row in chosen[:-1]:
        if row.size < MIN_PART_SIZE:
            raise errors.EntityTooSmall(
                f"Your proposed upload is smaller than the minimum allowed size: part "
                f"{row.part_number} has {row.size} bytes; every part but the last needs "
                f"at least 5 MiB.", ProposedSize=str(row.size), MinSizeAllowed=str(MIN_PART_SIZE))
    return chosen


def _multipart_etag(parts: list[Any]) -> str:
    digest = hashlib.md5(b"".join(bytes.fromhex(p.etag.strip('"')) for p in parts))
    return f'"{digest.hexdigest()}-{len(parts)}"'


def _object_checksum(upload: UploadInfo, parts: list[Any]) -> Checksum:
    algorithm = upload.checksum_algorithm
    if not algorithm or any(not p.checksum for p in parts):
        return Checksum()
    if upload.checksum_type == "FULL_OBJECT":
        value = _checksums.combine_crc(algorithm, [(p.checksum, p.size) for p in parts])
    else:
        value = _checksums.composite(algorithm, [p.checksum for p in parts])
    return Checksum(algorithm, value, upload.checksum_type, tuple(p.checksum for p in parts))

"""The local object store: blobs on disk, the key index in the metadata database."""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select

from cove import errors
from cove.meta import Database
from cove.meta.tables import (
    bucket_settings,
    bucket_websites,
    buckets,
    multipart_parts,
    multipart_uploads,
    object_acls,
    objects,
)
from cove.objects import _versions
from cove.objects._base import (
    NO_CONDITION,
    BucketInfo,
    Checksum,
    Listing,
    ObjectAttributes,
    ObjectInfo,
    WriteCondition,
)
from cove.objects._blobs import BlobStore, WrittenBlob
from cove.objects._commits import GroupCommit
from cove.objects._multipart import MultipartUploads
from cove.objects._s3wire import http_date

MAX_LIST_KEYS = 1000
# Statements of every PUT, built once: SQLAlchemy then finds their compiled form by identity
# instead of building and hashing a new statement's cache key each time.
_BUCKET_ROW = select(buckets).where(buckets.c.name == bindparam("name"))
_INSERT_OBJECT = insert(objects)
#: The bucket setting that names its owner's canonical user id (absent: cove's own account).
OWNER_SETTING = "owner"
LEGACY_REGION = "us-east-1"


class LocalObjectStore:
    """An :class:`~cove.objects.ObjectStore` on this machine's disk (see ``_blobs``)."""

    def __init__(self, db: Database, root: Path) -> None:
        self.db = db
        self.blobs = BlobStore(root / "blobs")
        self.commits = GroupCommit(db)
        self._infos = _InfoCache()
        self._versioning: dict[str, str | None] = {}
        # every setting of a bucket (owner, ownership, ACL...), read on each request that is
        # not the owner's: cleared on any change, and a read that raced one is not kept
        self._settings: dict[str, dict[str, Any]] = {}
        self._settings_generation = 0
        self._acl_rows: bool | None = None  # whether object_acls may have rows (None: ask)
        self.uploads = MultipartUploads(self)
        # Bucket names, derived from the table and kept in step by create/delete below (this
        # process is the only writer): a PUT checks its bucket without a transaction.
        self._bucket_names: set[str] | None = None

    # --- buckets ----------------------------------------------------------------------------

    def create_bucket(self, name: str, region: str, owner: str = "",
                      settings: dict[str, Any] | None = None) -> BucketInfo:
        """A new bucket owned by ``owner`` (a canonical user id; "": cove's own account), with
        its first ``settings``; another owner's bucket of that name is BucketAlreadyExists."""
        with self.db.write() as conn:
            row = self._bucket_row(conn, name)
            if row is not None and self._owner(conn, name) != owner:
                raise errors.BucketAlreadyExists(
                    "The requested bucket name is not available. The bucket namespace is shared "
                    "by all users of the system. Please select a different name and try again.",
                    BucketName=name)
            if row is not None and region == row.region == LEGACY_REGION:
                # us-east-1 answers 200 to re-creating a bucket you own (AWS's legacy rule).
                return BucketInfo(row.name, row.region, row.created)
            if row is not None:
                raise errors.BucketAlreadyOwnedByYou(
                    "Your previous request to create the named bucket succeeded and you already "
                    "own it.", BucketName=name)
            info = BucketInfo(name, region, time.time())
            conn.execute(insert(buckets).values(name=name, region=region, created=info.created))
            stored = {**(settings or {}), **({OWNER_SETTING: owner} if owner else {})}
            for setting, value in stored.items():
                conn.execute(insert(bucket_settings).values(bucket=name, name=setting,
                                                            value=value))
            conn.execute(delete(object_acls).where(object_acls.c.bucket == name))
        self._bucket_names = None
        self._forget_settings(name)
        return info

    @staticmethod
    def _owner(conn: Connection, bucket: str) -> str:
        return conn.execute(select(bucket_settings.c.value).where(and_(
            bucket_settings.c.bucket == bucket, bucket_settings.c.name == OWNER_SETTING))
        ).scalar() or ""

    def settings_of(self, bucket: str) -> dict[str, Any]:
        """All of a bucket's settings (NoSuchBucket if there is no such bucket), cached."""
        cached = self._settings.get(bucket)
        if cached is not None:
            return cached
        generation = self._settings_generation
        with self.db.read() as conn:
            self.require_bucket(conn, bucket)
            rows = conn.execute(select(bucket_settings.c.name, bucket_settings.c.value).where(
                bucket_settings.c.bucket == bucket)).all()
        found = {row.name: row.value for row in rows}
        if generation == self._settings_generation:
            self._settings[bucket] = found
        return found

    def cached_settings(self, bucket: str) -> dict[str, Any] | None:
        """A bucket's settings if they are cached (no I/O: callable on the event loop)."""
        return self._settings.get(bucket)

    def _forget_settings(self, bucket: str) -> None:
        self._settings_generation += 1
        self._settings.pop(bucket, None)
        self._versioning.pop(bucket, None)

    def get_bucket(self, name: str) -> BucketInfo:
        with self.db.read() as conn:
            return self.require_bucket(conn, name)

    def list_buckets(self) -> list[BucketInfo]:
        with self.db.read() as conn:
            rows = conn.execute(select(buckets).order_by(buckets.c.name)).all()
        return [BucketInfo(r.name, r.region, r.created) for r in rows]

    def list_buckets_and_owners(self) -> tuple[list[BucketInfo], dict[str, str]]:
        """Every bucket, and the owner of each that another account owns."""
        with self.db.read() as conn:
            owners = dict(conn.execute(select(bucket_settings.c.bucket, bucket_settings.c.value)
                                       .where(bucket_settings.c.name == OWNER_SETTING)).all())
        return self.list_buckets(), {name: str(owner) for name, owner in owners.items()}

    def delete_bucket(self, name: str) -> None:
        with self.db.write() as conn:
            self.require_bucket(conn, name)
            if conn.execute(select(objects.c.key).where(objects.c.bucket == name).limit(1)
                            ).first() or _versions.has_versions(conn, name):
                raise errors.BucketNotEmpty("The bucket you tried to delete is not empty",
                                            BucketName=name)
            stale = self.uploads.forget_bucket(conn, name)
            conn.execute(delete(bucket_websites).where(bucket_websites.c.bucket == name))
            conn.execute(delete(bucket_settings).where(bucket_settings.c.bucket == name))
            conn.execute(delete(object_acls).where(object_acls.c.bucket == name))
            conn.execute(delete(buckets).where(buckets.c.name == name))
        self._bucket_names = None
        self._forget_settings(name)
        self.blobs.free(stale)

    def require_bucket_cached(self, name: str) -> None:
        """NoSuchBucket unless ``name`` exists, without a database transaction when possible.
        Writes still check inside their own transaction (see ``publish``)."""
        names = self._bucket_names
        if names is None:
            with self.db.read() as conn:
                names = set(conn.execute(select(buckets.c.name)).scalars())
            self._bucket_names = names
        if name not in names:
            raise errors.NoSuchBucket("The specified bucket does not exist", BucketName=name)

    def require_bucket(self, conn: Connection, name: str) -> BucketInfo:
        row = self._bucket_row(conn, name)
        if row is None:
            raise errors.NoSuchBucket("The specified bucket does not exist", BucketName=name)
        return BucketInfo(row.name, row.region, row.created)

    @staticmethod
    def _bucket_row(conn: Connection, name: str) -> Any:
        return conn.execute(_BUCKET_ROW, {"name": name}).first()

    # --- objects ----------------------------------------------------------------------------

    def put_object(self, bucket: str, key: str, blob: WrittenBlob, attributes: ObjectAttributes,
                   checksum: Checksum, condition: WriteCondition = NO_CONDITION,
                   acl: dict[str, Any] | None = None) -> ObjectInfo:
        info = ObjectInfo(bucket, key, blob.size, f'"{blob.md5.hex()}"', time.time(), attributes,
                          checksum, ((blob.blob_id, blob.size),))
        return self.publish(info, new_blobs=[blob.blob_id], condition=condition, acl=acl)

    def publish(self, info: ObjectInfo, new_blobs: list[str],
                conn_hook: Callable[[Connection], None] | None = None,
                condition: WriteCondition = NO_CONDITION,
                acl: dict[str, Any] | None = None) -> ObjectInfo:
        """Make ``info`` the object at its key, atomically; frees the bytes it replaces (after
        the answer: :meth:`BlobStore.free`).

        ``conn_hook(conn)`` runs inside the same transaction (multipart completion uses it to
        drop the upload).  ``acl`` is the new version's owner and ACL (None: the bucket owner's,
        private).  On any error the new blobs are deleted and nothing changes.
        """
        status = self.versioning(info.bucket)
        info = dataclasses.replace(info, version_id=_versions.new_version_id(status))

        seen: list[int] = []

        def write(conn: Connection) -> list[str]:
            self.require_bucket(conn, info.bucket)
            if condition != NO_CONDITION:
                _check_condition(conn, info.bucket, info.key, condition)
            if conn_hook is not None:
                conn_hook(conn)
            replaced = _versions.make_room(conn, info.bucket, info.key, status)
            conn.execute(_INSERT_OBJECT, _row_values(info))
            self._set_object_acl(conn, info, acl)
            seen.append(self._infos.generation)  # holding the write lock: see _InfoCache
            return replaced

        try:
            replaced = self.commits.run(write)
        except BaseException:
            self.blobs.delete(new_blobs)
            raise
        finally:
            self._infos.forget(info.bucket, info.key)  # before the writer is answered
        self._infos.put(info, seen[0] + 1)  # a GET right after the PUT needs no transaction
        self.blobs.free(replaced)
        return info

    def head_object(self, bucket: str, key: str) -> ObjectInfo:
        cached, generation = self._infos.get(bucket, key)
        if cached is not None:
            return cached
        with self.db.read() as conn:
            row = conn.execute(select(objects).where(
                and_(objects.c.bucket == bucket, objects.c.key == key))).first()
            if row is None:
                self.require_bucket(conn, bucket)
                marker = _versions.latest_is_marker(conn, bucket, key)
                raise errors.NoSuchKey("The specified key does not exist.", Key=key,
                                       headers=_marker_headers(marker) if marker else None)
        info = _info_from_row(row)
        self._infos.put(info, generation)
        return info

    def cached_head(self, bucket: str, key: str) -> ObjectInfo | None:
        """The current object's metadata if this process has it cached, and the bucket's
        versioning status too (the answer needs both); None otherwise.  No I/O: callable on
        the event loop."""
        if bucket not in self._versioning:
            return None
        return self._infos.get(bucket, key)[0]

    def read(self, info: ObjectInfo, start: int, length: int) -> bytes:
        return b"".join(self.iter_range(info, start, length))

    def read_cached(self, info: ObjectInfo) -> bytes | memoryview | None:
        """A whole object's bytes if the page cache holds every one of them; None otherwise
        (nothing waits for the disk: see :meth:`BlobStore.read_cached`)."""
        pieces = []
        for blob_id, size in info.parts:
            piece = self.blobs.read_cached(blob_id, size)
            if piece is None:
                return None
            pieces.append(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def iter_range(self, info: ObjectInfo, start: int, length: int) -> Iterator[bytes]:
        """The bytes ``[start, start + length)`` of an object, across its parts."""
        offset = 0
        for blob_id, size in info.parts:
            if length <= 0:
                return
            if start < offset + size:
                begin = max(start - offset, 0)
                take = min(size - begin, length)
                yield from self.blobs.iter_range(blob_id, begin, take)
                length -= take
            offset += size

    def delete_object(self, bucket: str, key: str) -> str | None:
        """Delete the key's current version; with versioning on, a delete marker takes its
        place (its version id is returned; None when versioning never was enabled)."""
        return self.delete_objects(bucket, [(key, None)])[0]

    def delete_version(self, bucket: str, key: str, version_id: str) -> bool:
        """Delete one version for good; returns whether it was a delete marker."""
        return self.delete_objects(bucket, [(key, version_id)])[0] is not None

    def delete_objects(self, bucket: str, targets: list[tuple[str, str | None]]
                       ) -> list[str | None]:
        """Delete each ``(key, version id or None)`` in turn, in one transaction (DeleteObjects
        names up to 1000).  Per target, the version id of the delete marker it made (no
        version id given) or deleted (the one given), else None.  The freed blobs are unlinked
        after the commit, together, off the request's path (:meth:`BlobStore.free`)."""
        status = self.versioning(bucket)
        outcomes: list[str | None] = []
        freed: list[str] = []
        try:
            with self.db.write() as conn:
                self.require_bucket(conn, bucket)
                for key, version_id in targets:
                    if version_id is not None:
                        gone, was_marker = _versions.delete_version(conn, bucket, key,
                                                                    version_id)
                        freed += gone
                        outcomes.append(version_id if was_marker else None)
                        continue
                    freed += _versions.make_room(conn, bucket, key, status)
                    outcomes.append(_versions.add_delete_marker(conn, bucket, key, status)
                                    if status is not None else None)
        finally:
            for key, _ in targets:
                self._infos.forget(bucket, key)
        self.blobs.free(freed)
        return outcomes

    def head_version(self, bucket: str, key: str, version_id: str) -> ObjectInfo:
        """A version by id: MethodNotAllowed for a delete marker (as S3 answers a GET of one),
        NoSuchVersion for an id the key does not have."""
        with self.db.read() as conn:
            current = conn.execute(select(objects).where(
                and_(objects.c.bucket == bucket, objects.c.key == key))).first()
            if current is None:
                self.require_bucket(conn, bucket)
            row, marker = _versions.find_version(conn, bucket, key, version_id, current)
        if marker:
            raise errors.MethodNotAllowed(
                "The specified method is not allowed against this resource (the version is a "
                "delete marker).", Method="GET", ResourceType="DeleteMarker",
                headers={**_marker_headers(version_id),
                         "Last-Modified": http_date(row.last_modified)})
        return _info_from_row(row)

    # --- bucket settings --------------------------------------------------------------------

    def versioning(self, bucket: str) -> str | None:
        """The bucket's versioning status (None: never enabled), cached: this process is the
        only writer of settings."""
        if bucket not in self._versioning:
            try:
                self._versioning[bucket] = self.setting(bucket, "versioning")
            except errors.NoSuchBucket:
                return None  # the write's own transaction reports the missing bucket
        return self._versioning[bucket]

    def setting(self, bucket: str, name: str) -> Any:
        with self.db.read() as conn:
            self.require_bucket(conn, bucket)
            return conn.execute(select(bucket_settings.c.value).where(and_(
                bucket_settings.c.bucket == bucket, bucket_settings.c.name == name))).scalar()

    def put_setting(self, bucket: str, name: str, value: Any) -> None:
        """Set (or with None, remove) one of a bucket's settings."""
        where = and_(bucket_settings.c.bucket == bucket, bucket_settings.c.name == name)
        try:
            with self.db.write() as conn:
                self.require_bucket(conn, bucket)
                conn.execute(delete(bucket_settings).where(where))
                if value is not None:
                    conn.execute(insert(bucket_settings).values(bucket=bucket, name=name,
                                                                value=value))
        finally:
            self._forget_settings(bucket)

    def copy_object(self, source: ObjectInfo, bucket: str, key: str,
                    attributes: ObjectAttributes, acl: dict[str, Any] | None = None
                    ) -> ObjectInfo:
        """Copy by hard-linking the source's blobs: no bytes move, and either can be deleted."""
        linked = [(self.blobs.link(blob_id), size) for blob_id, size in source.parts]
        info = ObjectInfo(bucket, key, source.size, source.etag, time.time(), attributes,
                          source.checksum, tuple(linked))
        return self.publish(info, new_blobs=[blob_id for blob_id, _ in linked], acl=acl)

    def object_acl(self, info: ObjectInfo) -> dict[str, Any] | None:
        """The owner and ACL of an object version (None: the bucket owner's, private)."""
        with self.db.read() as conn:
            stored: dict[str, Any] | None = conn.execute(select(object_acls.c.acl).where(and_(
                object_acls.c.bucket == info.bucket, object_acls.c.key == info.key,
                object_acls.c.version_id == info.version_id))).scalar()
        return stored

    def object_owners(self, bucket: str,
                      infos: Sequence[ObjectInfo]) -> dict[tuple[str, str], str]:
        """The owners of those of ``infos`` (one bucket's versions) whose writer owns them,
        by (key, version id); the others are the bucket owner's.  One query for a page."""
        if not infos or self._acl_rows is False:
            return {}
        with self.db.read() as conn:
            rows = conn.execute(select(object_acls.c.key, object_acls.c.version_id,
                                       object_acls.c.acl).where(and_(
                object_acls.c.bucket == bucket,
                object_acls.c.key.in_(sorted({i.key for i in infos}))))).all()
        return {(r.key, r.version_id): str(r.acl["owner"]) for r in rows}

    def put_object_acl(self, info: ObjectInfo, acl: dict[str, Any] | None) -> None:
        """Replace an object version's ACL, if that version is still there."""
        with self.db.write() as conn:
            if _versions.find_version(conn, info.bucket, info.key, info.version_id,
                                      self._current_row(conn, info.bucket, info.key))[1]:
                raise errors.MethodNotAllowed("The specified method is not allowed against "
                                              "this resource (a delete marker).")
            self._set_object_acl(conn, info, acl)

    def _set_object_acl(self, conn: Connection, info: ObjectInfo,
                        acl: dict[str, Any] | None) -> None:
        """The version's ACL row: replaced (a "null" version's key may have had one before).
        Until the first ACL row is written there is none to replace, so a PUT skips the
        delete (this process is the only writer, and writes are serialised)."""
        if self._acl_rows is None:
            self._acl_rows = conn.execute(select(object_acls.c.bucket).limit(1)).first() \
                is not None
        if self._acl_rows:
            conn.execute(delete(object_acls).where(and_(
                object_acls.c.bucket == info.bucket, object_acls.c.key == info.key,
                object_acls.c.version_id == info.version_id)))
        if acl is not None:
            self._acl_rows = True
            conn.execute(insert(object_acls).values(bucket=info.bucket, key=info.key,
                                                    version_id=info.version_id, acl=acl))

    @staticmethod
    def _current_row(conn: Connection, bucket: str, key: str) -> Any:
        return conn.execute(select(objects).where(
            and_(objects.c.bucket == bucket, objects.c.key == key))).first()

    # --- listing ----------------------------------------------------------------------------

    def list_objects(self, bucket: str, prefix: str = "", delimiter: str = "", marker: str = "",
                     max_keys: int = MAX_LIST_KEYS) -> Listing:
        """Keys under ``prefix`` after ``marker``, rolled up at ``delimiter``; an index scan.

        A common prefix is returned once and then skipped whole (the scan jumps past it), so
        listing a "directory" costs one row per child, not one per key below it.
        """
        max_keys = max(0, min(max_keys, MAX_LIST_KEYS))
        if max_keys == 0:  # S3 answers an empty, untruncated page
            self.get_bucket(bucket)
            return Listing([], [], False, "")
        entries: list[ObjectInfo | str] = []
        cursor, inclusive = _start(prefix, delimiter, marker)
        upper = _successor(prefix) if prefix else None
        with self.db.read() as conn:
            self.require_bucket(conn, bucket)
            while len(entries) <= max_keys:
                query = select(objects).where(objects.c.bucket == bucket)
                after = objects.c.key >= cursor if inclusive else objects.c.key > cursor
                query = query.where(after)
                if upper is not None:
                    query = query.where(objects.c.key < upper)
                rows = conn.execute(query.order_by(objects.c.key)
                                    .limit(max_keys + 1 - len(entries))).all()
                if not rows:
                    break
                for row in rows:
                    rolled = _rolled_prefix(row.key, prefix, delimiter)
                    if rolled:
                        entries.append(rolled)
                        cursor, inclusive = _successor(rolled), True
                        break
                    entries.append(_info_from_row(row))
                    cursor, inclusive = row.key, False
        truncated = len(entries) > max_keys
        entries = entries[:max_keys]
        last = entries[-1] if entries else ""
        return Listing(
            objects=[e for e in entries if isinstance(e, ObjectInfo)],
            common_prefixes=[e for e in entries if isinstance(e, str)],
            is_truncated=truncated,
            next_marker=(last if isinstance(last, str) else last.key) if truncated else "",
        )

    def list_versions(self, bucket: str, prefix: str, delimiter: str, key_marker: str,
                      version_marker: str, max_keys: int) -> VersionListing:
        """ListObjectVersions of a bucket that has had versioning enabled: every version and
        delete marker under ``prefix``, by key then newest first, after the markers.

        This reads every row under the prefix after ``key_marker`` (buckets that never had
        versioning are listed by ``list_objects``' index scan instead)."""
        with self.db.read() as conn:
            self.require_bucket(conn, bucket)
            start = max(prefix, key_marker)
            currents = conn.execute(select(objects).where(and_(
                objects.c.bucket == bucket, objects.c.key >= start)).order_by(objects.c.key)).all()
            others = _versions.versions_under(conn, bucket, prefix, key_marker)
        flat = _merge_versions([r for r in currents if r.key.startswith(prefix)], others)
        return _page_versions(flat, prefix, delimiter, key_marker, version_marker, max_keys)

    # --- for jobs on this machine -----------------------------------------------------------

    def walk(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, in key order."""
        marker = ""
        while True:
            listing = self.list_objects(bucket, prefix, "", marker)
            yield from listing.objects
            if not listing.is_truncated:
                return
            marker = listing.next_marker

    def materialize(self, info: ObjectInfo, target: Path) -> None:
        """Put a copy of an object's bytes at the new file ``target``: a reflink of its blob
        where the filesystem shares blocks (instant), else an in-kernel copy; a concatenation of
        its parts when it has several.  Never a hard link: whoever may write ``target`` (a job's
        input channel) would rewrite the stored object under its unchanged ETag."""
        target.parent.mkdir(parents=True, exist_ok=True)
        if len(info.parts) == 1:
            _copy_file(self.blobs.path(info.parts[0][0]), target)
            return
        with open(target, "xb") as out:
            for chunk in self.iter_range(info, 0, info.size):
                out.write(chunk)

    def put_file(self, bucket: str, key: str, path: Path,
                 content_type: str = "application/octet-stream") -> ObjectInfo:
        writer = self.blobs.writer()
        try:
            with open(path, "rb") as source:
                while chunk := source.read(8 << 20):
                    writer.write(chunk)
            blob = writer.finish()
        except BaseException:
            writer.discard()
            raise
        return self.put_object(bucket, key, blob, ObjectAttributes(content_type), Checksum())

    # --- housekeeping -----------------------------------------------------------------------

    def sweep(self) -> int:
        """Remove blobs that no object or part references (left by a crash mid-write)."""
        with self.db.read() as conn:
            referenced = {blob_id for (parts,) in conn.execute(select(objects.c.parts))
                          for blob_id, _ in parts}
            referenced.update(conn.execute(select(multipart_parts.c.blob_id)).scalars())
            referenced |= _versions.referenced_blobs(conn)
        return self.blobs.sweep(referenced)

    def stats(self) -> dict[str, int]:
        with self.db.read() as conn:
            return {
                "buckets": conn.execute(select(func.count()).select_from(buckets)).scalar_one(),
                "objects": conn.execute(select(func.count()).select_from(objects)).scalar_one(),
                "bytes": conn.execute(select(func.coalesce(func.sum(objects.c.size), 0)))
                .scalar_one(),
                "uploads": conn.execute(select(func.count()).select_from(multipart_uploads))
                .scalar_one(),
            }


@dataclasses.dataclass(frozen=True)
class VersionListing:
    entries: list[_versions.Version | str]  # versions and common prefixes, in order
    is_truncated: bool
    next_key_marker: str
    next_version_marker: str


def _merge_versions(currents: list[Any], others: list[Any]) -> list[_versions.Version]:
    """Each key's versions newest first: the current one, then the others by ``seq``."""
    by_key: dict[str, list[_versions.Version]] = {}
    for row in currents:
        by_key[row.key] = [_versions.Version(_info_from_row(row), False, True)]
    for row in others:
        listed = by_key.setdefault(row.key, [])
        listed.append(_versions.Version(_info_from_row(row), bool(row.delete_marker),
                                        not listed))
    return [v for key in sorted(by_key) for v in by_key[key]]


def _page_versions(flat: list[_versions.Version], prefix: str, delimiter: str,
                   key_marker: str, version_marker: str, max_keys: int) -> VersionListing:
    entries: list[_versions.Version | str] = []
    skipping = bool(version_marker)  # within key_marker's versions, up to the marker
    rolled_marker = _rolled_prefix(key_marker, prefix, delimiter) if key_marker else ""
    for version in flat:
        key = version.info.key
        if key < key_marker or (rolled_marker and key.startswith(rolled_marker)):
            continue
        if key == key_marker:
            if skipping and version.info.version_id == version_marker:
                skipping = False
                continue
            if skipping or not version_marker:
                continue
        rolled = _rolled_prefix(key, prefix, delimiter)
        if not rolled:
            entries.append(version)
        elif not entries or entries[-1] != rolled:
            entries.append(rolled)
        if len(entries) > max_keys:
            break
    truncated = len(entries) > max_keys
    entries = entries[:max_keys]
    last = entries[-1] if entries and truncated else None
    if isinstance(last, str):
        return VersionListing(entries, True, last, "")
    if last is not None:
        return VersionListing(entries, True, last.info.key, last.info.version_id)
    return VersionListing(entries, False, "", "")


class _InfoCache:
    """Recently read objects' metadata, so a GET or HEAD costs no transaction.

    Every write of a key forgets it (after its commit, before its writer is answered), and a
    read caches what it found only if no write at all was forgotten while it read: the
    generation it saw before reading is still current.  This process is the only writer.

    A PUT caches the object it wrote the same way: it notes the generation inside its
    transaction (holding the database's write lock, so no other write commits in between),
    and caches its object only if its own forget is the one write forgotten since.  Any other
    writer's forget in that time (which may be of a later commit to this key) keeps it out.
    """

    def __init__(self, size: int = 4096) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, str], ObjectInfo] = OrderedDict()
        self._generation = 0
        self._size = size

    def get(self, bucket: str, key: str) -> tuple[ObjectInfo | None, int]:
        with self._lock:
            info = self._items.get((bucket, key))
            if info is not None:
                self._items.move_to_end((bucket, key))
            return info, self._generation

    def put(self, info: ObjectInfo, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return  # a write happened meanwhile: what was read may be stale
            self._items[(info.bucket, info.key)] = info
            if len(self._items) > self._size:
                self._items.popitem(last=False)

    @property
    def generation(self) -> int:
        return self._generation

    def forget(self, bucket: str, key: str) -> None:
        with self._lock:
            self._generation += 1
            self._items.pop((bucket, key), None)


def _marker_headers(version_id: str) -> dict[str, str]:
    """What S3 answers with a read of a delete marker (404 or, by version id, 405)."""
    return {"x-amz-delete-marker": "true", "x-amz-version-id": version_id}


def _check_condition(conn: Connection, bucket: str, key: str, condition: WriteCondition) -> None:
    """If-Match needs the object to exist with a listed ETag (or ``*``); If-None-Match needs
    it absent or with none of the listed ETags (``*`` matches any)."""
    row = conn.execute(select(objects.c.etag).where(
        and_(objects.c.bucket == bucket, objects.c.key == key))).first()
    if condition.if_match is not None:
        if row is None:
            raise errors.NoSuchKey("The specified key does not exist (If-Match needs it).",
                                   Key=key)
        if not etag_listed(condition.if_match, row.etag):
            raise errors.PreconditionFailed("At least one of the pre-conditions you specified "
                                            "did not hold", Condition="If-Match")
    if condition.if_none_match is not None and row is not None \
            and etag_listed(condition.if_none_match, row.etag):
        raise errors.PreconditionFailed("At least one of the pre-conditions you specified did "
                                        "not hold", Condition="If-None-Match")


def etag_listed(header: str, etag: str) -> bool:
    """Whether an If-Match / If-None-Match list names ``etag`` (``*`` names any)."""
    tags = [t.strip().removeprefix("W/").strip('"') for t in header.split(",")]
    return "*" in tags or etag.strip('"') in tags


def _row_values(info: ObjectInfo) -> dict[str, Any]:
    return {
        "bucket": info.bucket, "key": info.key, "size": info.size, "etag": info.etag,
        "last_modified": info.last_modified, "content_type": info.attributes.content_type,
        "headers": info.attributes.headers, "user_metadata": info.attributes.user_metadata,
        "checksum": info.checksum.as_dict(), "parts": [list(p) for p in info.parts],
        "version_id": info.version_id,
    }


def _info_from_row(row: Any) -> ObjectInfo:
    return ObjectInfo(
        bucket=row.bucket, key=row.key, size=row.size, etag=row.etag,
        last_modified=row.last_modified,
        attributes=ObjectAttributes(row.content_type, dict(row.headers), dict(row.user_metadata)),
        checksum=Checksum.from_dict(row.checksum),
        parts=tuple((blob_id, size) for blob_id, size in row.parts),
        version_id=row.version_id,
    )


def _rolled_prefix(key: str, prefix: str, delimiter: str) -> str:
    """The common prefix ``key`` rolls up into, or "" if it is listed as itself."""
    if not delimiter:
        return ""
    at = key.find(delimiter, len(prefix))
    return key[: at + len(delimiter)] if at >= 0 else ""


def _start(prefix: str, delimiter: str, marker: str) -> tuple[str, bool]:
    """Where a scan begins: (cursor, inclusive).  A marker that is itself a common prefix
    skips every key that rolls up into it, as S3 does with NextMarker."""
    if not marker or marker < prefix:
        return prefix, True
    if _rolled_prefix(marker, prefix, delimiter) == marker:
        return _successor(marker), True
    return marker, False


def _successor(text: str) -> str:
    """The least string greater than every string that starts with ``text``."""
    return text[:-1] + chr(ord(text[-1]) + 1)


#: ioctl(dest, FICLONE, src): share the source's blocks copy-on-write (btrfs, xfs, bcachefs)
FICLONE = 0x40049409
#: what a filesystem or kernel without reflinks / copy_file_range answers
_NO_FAST_COPY = (errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS,
                 errno.EBADF, errno.ETXTBSY)


def _copy_file(source: Path, target: Path) -> None:
    """Copy ``source`` to the new file ``target`` (refusing one that exists, or a link)."""
    with open(source, "rb") as src, open(os.open(
            target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644), "wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
            return
        except OSError as exc:
            if exc.errno not in _NO_FAST_COPY:
                raise
        left = os.fstat(src.fileno()).st_size
        try:
            while left > 0:
                copied = os.copy_file_range(src.fileno(), dst.fileno(), min(left, 1 << 30))
                if copied == 0:
                    break
                left -= copied
        except OSError as exc:
            if exc.errno not in _NO_FAST_COPY:
                raise
            shutil.copyfileobj(src, dst, 8 << 20)

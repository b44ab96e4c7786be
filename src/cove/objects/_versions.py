"""Object versions, for buckets whose versioning has been enabled (S3's rules).

The current version of a key stays in ``objects`` (so reads and listings of current objects
cost what they cost without versioning); the versions it replaced and the delete markers live
in ``object_versions``.  A bucket that never had versioning enabled has no rows there and every
object is version "null".  All functions here run inside the caller's write transaction and
return the blobs that the transaction frees (deleted after it commits).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select

from cove import errors
from cove.meta.tables import object_versions, objects
from cove.objects._base import ObjectInfo

NULL = "null"
ENABLED, SUSPENDED = "Enabled", "Suspended"


@dataclass(frozen=True)
class Version:
    """One entry of ListObjectVersions: an object version or a delete marker."""

    info: ObjectInfo
    delete_marker: bool
    is_latest: bool


def new_version_id(status: str | None) -> str:
    return uuid.uuid4().hex if status == ENABLED else NULL


_KEY = and_(objects.c.bucket == bindparam("bucket"), objects.c.key == bindparam("key"))
_CURRENT = select(objects).where(_KEY)  # built once (see _store's statements)
_DELETE_CURRENT = delete(objects).where(_KEY)


def make_room(conn: Connection, bucket: str, key: str, status: str | None) -> list[str]:
    """Take the current version of ``key`` out of ``objects`` before a write or a delete
    marker: kept as a noncurrent version, or freed when versioning never was enabled or the
    write will replace the "null" version (Suspended)."""
    current = conn.execute(_CURRENT, {"bucket": bucket, "key": key}).first()
    freed: list[str] = []
    if current is not None:
        conn.execute(_DELETE_CURRENT, {"bucket": bucket, "key": key})
        if status is None or (status == SUSPENDED and current.version_id == NULL):
            freed += _blobs(current)
        else:
            _keep(conn, current._mapping, delete_marker=False)
    if status == SUSPENDED:
        freed += _drop_versions(conn, bucket, key, NULL)
    return freed


def add_delete_marker(conn: Connection, bucket: str, key: str, status: str) -> str:
    version_id = new_version_id(status)
    _keep(conn, {"bucket": bucket, "key": key, "version_id": version_id, "size": 0,
                 "etag": "", "last_modified": time.time(), "content_type": "", "headers": {},
                 "user_metadata": {}, "checksum": {}, "parts": []}, delete_marker=True)
    return version_id


def delete_version(conn: Connection, bucket: str, key: str,
                   version_id: str) -> tuple[list[str], bool]:
    """Delete one version for good (the current one, a noncurrent one or a delete marker);
    returns the freed blobs and whether it was a delete marker.  When the current version
    goes, the newest remaining one becomes current, unless that is a delete marker."""
    where = and_(objects.c.bucket == bucket, objects.c.key == key)
    current = conn.execute(select(objects).where(where)).first()
    marker = False
    if current is not None and current.version_id == version_id:
        conn.execute(delete(objects).where(where))
        freed = _blobs(current)
    else:
        row = _version_row(conn, bucket, key, version_id)
        if row is None:
            return [], False  # deleting a version that is not there changes nothing
        freed, marker = _drop_versions(conn, bucket, key, version_id), row.delete_marker
    if current is None or current.version_id == version_id:
        _promote_newest(conn, bucket, key)
    return freed, marker


def find_version(conn: Connection, bucket: str, key: str, version_id: str,
                 current: Any) -> tuple[Any, bool]:
    """The row of ``version_id`` (current or not) and whether it is a delete marker."""
    if current is not None and current.version_id == version_id:
        return current, False
    row = _version_row(conn, bucket, key, version_id)
    if row is None:
        raise errors.NoSuchVersion("The specified version does not exist.", Key=key,
                                   VersionId=version_id)
    return row, bool(row.delete_marker)


def latest_is_marker(conn: Connection, bucket: str, key: str) -> str | None:
    """The version id of the delete marker that is the key's latest version, if it is one."""
    row = conn.execute(select(object_versions.c.version_id, object_versions.c.delete_marker)
                       .where(and_(object_versions.c.bucket == bucket,
                                   object_versions.c.key == key))
                       .order_by(object_versions.c.seq.desc()).limit(1)).first()
    return row.version_id if row is not None and row.delete_marker else None


def has_versions(conn: Connection, bucket: str) -> bool:
    return conn.execute(select(object_versions.c.key)
                        .where(object_versions.c.bucket == bucket).limit(1)).first() is not None


def versions_under(conn: Connection, bucket: str, prefix: str, after_key: str) -> list[Any]:
    """Every noncurrent version and delete marker of keys under ``prefix`` from ``after_key``
    on (inclusive), by key then newest first."""
    query = select(object_versions).where(and_(object_versions.c.bucket == bucket,
                                               object_versions.c.key >= max(prefix, after_key)))
    rows = conn.execute(query.order_by(object_versions.c.key,
                                       object_versions.c.seq.desc())).all()
    return [r for r in rows if r.key.startswith(prefix)]


def referenced_blobs(conn: Connection) -> set[str]:
    return {blob_id for (parts,) in conn.execute(select(object_versions.c.parts))
            for blob_id, _ in parts}


# --- internals ----------------------------------------------------------------------------------

def _keep(conn: Connection, row: Any, delete_marker: bool) -> None:
    bucket, key = row["bucket"], row["key"]
    seq = conn.execute(select(func.coalesce(func.max(object_versions.c.seq), 0)).where(
        and_(object_versions.c.bucket == bucket, object_versions.c.key == key))).scalar_one()
    values = {name: row[name] for name in ("bucket", "key", "version_id", "size", "etag",
                                           "last_modified", "content_type", "headers",
                                           "user_metadata", "checksum", "parts")}
    conn.execute(insert(object_versions).values(**values, seq=seq + 1,
                                                delete_marker=delete_marker))


def _version_row(conn: Connection, bucket: str, key: str, version_id: str) -> Any:
    return conn.execute(select(object_versions).where(and_(
        object_versions.c.bucket == bucket, object_versions.c.key == key,
        object_versions.c.version_id == version_id))).first()


def _drop_versions(conn: Connection, bucket: str, key: str, version_id: str) -> list[str]:
    where = and_(object_versions.c.bucket == bucket, object_versions.c.key == key,
                 object_versions.c.version_id == version_id)
    freed = [b for row in conn.execute(select(object_versions).where(where)) for b in _blobs(row)]
    conn.execute(delete(object_versions).where(where))
    return freed


def _promote_newest(conn: Connection, bucket: str, key: str) -> None:
    newest = conn.execute(select(object_versions).where(and_(
        object_versions.c.bucket == bucket, object_versions.c.key == key))
        .order_by(object_versions.c.seq.desc()).limit(1)).first()
    if newest is None or newest.delete_marker:
        return
    conn.execute(delete(object_versions).where(and_(
        object_versions.c.bucket == bucket, object_versions.c.key == key,
        object_versions.c.version_id == newest.version_id)))
    values = {name: getattr(newest, name) for name in (
        "bucket", "key", "version_id", "size", "etag", "last_modified", "content_type",
        "headers", "user_metadata", "checksum", "parts")}
    conn.execute(insert(objects).values(**values))


def _blobs(row: Any) -> list[str]:
    return [blob_id for blob_id, _ in row.parts]

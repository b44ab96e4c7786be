"""Every table of cove's metadata database, in one place.

A row holds what the matching Describe/Head call returns.  Each change to these tables bumps
``SCHEMA_VERSION`` and adds a step to ``cove.meta._database.MIGRATIONS``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 1

#: Object keys sort by code point (= UTF-8 bytes), as S3 lists them: SQLite's default BINARY
#: collation does that; PostgreSQL needs the "C" collation.
KeyText = Text().with_variant(Text(collation="C"), "postgresql")

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", Float, nullable=False),
)

# --- object store ---------------------------------------------------------------------------

buckets = Table(
    "buckets",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("region", String(32), nullable=False),
    Column("created", Float, nullable=False),
)

#: One row per visible object.  ``parts`` lists the blobs that hold its bytes, in order:
#: ``[[blob_id, size], ...]`` (one entry for a simple PUT, one per part after a multipart
#: upload, so completing an upload moves no bytes).
objects = Table(
    "objects",
    metadata,
    Column("bucket", String(63), primary_key=True),
    Column("key", KeyText, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("etag", String(64), nullable=False),
    Column("last_modified", Float, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("headers", JSON, nullable=False),  # Content-Encoding, Cache-Control, ...
    Column("user_metadata", JSON, nullable=False),
    Column("checksum", JSON, nullable=False),  # {"algorithm": ..., "value": ..., "type": ...}
    Column("parts", JSON, nullable=False),
    sqlite_with_rowid=False,
)

multipart_uploads = Table(
    "multipart_uploads",
    metadata,
    Column("upload_id", String(64), primary_key=True),
    Column("bucket", String(63), nullable=False, index=True),
    Column("key", KeyText, nullable=False),
    Column("initiated", Float, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("user_metadata", JSON, nullable=False),
    Column("checksum_algorithm", String(16), nullable=False),
    Column("checksum_type", String(16), nullable=False),
)

multipart_parts = Table(
    "multipart_parts",
    metadata,
    Column("upload_id", String(64), primary_key=True),
    Column("part_number", Integer, primary_key=True),
    Column("blob_id", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("etag", String(64), nullable=False),
    Column("checksum", Text, nullable=False),
    Column("last_modified", Float, nullable=False),
)

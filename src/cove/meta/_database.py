"""The metadata database: SQLAlchemy Core over a SQLite file (WAL) by default, any URL by config."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, insert, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cove.errors import ServerError
from cove.meta import tables
from cove.meta.tables import SCHEMA_VERSION, metadata, schema_version


def _v2_new_tables(conn: Connection) -> None:
    """Tuning, batch transform, bucket websites, functions and gateway APIs: new tables only."""
    for table in (tables.tuning_jobs, tables.tuning_trials, tables.transform_jobs,
                  tables.bucket_websites, tables.functions, tables.gateway_apis,
                  tables.gateway_parts):
        table.create(conn, checkfirst=True)


def _v3_notebook_instances(conn: Connection) -> None:
    """Notebook instances: a new table only."""
    tables.notebook_instances.create(conn, checkfirst=True)


def _v4_console_tables(conn: Connection) -> None:
    """The console: endpoint traffic and events, sessions and used one-time links; new
    tables."""
    for table in (tables.endpoint_traffic, tables.endpoint_events, tables.console_sessions,
                  tables.console_used_links):
        table.create(conn, checkfirst=True)


def _v5_model_registry(conn: Connection) -> None:
    """The model registry: model package groups and model packages; new tables."""
    for table in (tables.model_package_groups, tables.model_packages):
        table.create(conn, checkfirst=True)


def _v6_pipelines(conn: Connection) -> None:
    """Pipelines, their executions and steps; new tables."""
    for table in (tables.pipelines, tables.pipeline_executions, tables.pipeline_steps):
        table.create(conn, checkfirst=True)


def _v7_processing_jobs(conn: Connection) -> None:
    """Processing jobs: a new table only."""
    tables.processing_jobs.create(conn, checkfirst=True)


def _v8_iam_tables(conn: Connection) -> None:
    """IAM roles and policies, and the role each scoped key acts for: new tables."""
    for table in (tables.iam_roles, tables.iam_role_policies, tables.iam_policies,
                  tables.iam_attachments, tables.access_key_roles):
        table.create(conn, checkfirst=True)


def _v9_bucket_settings_and_versions(conn: Connection) -> None:
    """S3 bucket settings (versioning, PublicAccessBlock) and object versions: new tables, and
    each current object's version id (all "null" until now)."""
    for table in (tables.bucket_settings, tables.object_versions):
        table.create(conn, checkfirst=True)
    columns = {c["name"] for c in inspect(conn).get_columns("objects")}
    if "version_id" not in columns:
        conn.exec_driver_sql(
            "ALTER TABLE objects ADD COLUMN version_id VARCHAR(64) NOT NULL DEFAULT 'null'")


def _v10_s3_acls_and_accounts(conn: Connection) -> None:
    """S3 ACLs and other accounts: two new tables, and each multipart upload's ACL."""
    for table in (tables.object_acls, tables.s3_accounts):
        table.create(conn, checkfirst=True)
    if "acl" not in {c["name"] for c in inspect(conn).get_columns("multipart_uploads")}:
        conn.exec_driver_sql("ALTER TABLE multipart_uploads ADD COLUMN acl JSON")


#: version -> step that brings a database of ``version - 1`` up to ``version``.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _v2_new_tables,
    3: _v3_notebook_instances,
    4: _v4_console_tables,
    5: _v5_model_registry,
    6: _v6_pipelines,
    7: _v7_processing_jobs,
    8: _v8_iam_tables,
    9: _v9_bucket_settings_and_versions,
    10: _v10_s3_acls_and_accounts,
}


class DatabaseError(ServerError):
    code = "InternalError"


class Database:
    """One SQL database shared by every component.

    ``write()`` opens a transaction that holds the write lock from its first statement (SQLite
    ``BEGIN IMMEDIATE``), so concurrent writers queue instead of failing half-way; ``read()``
    opens a plain transaction.  Both commit on success and roll back on error.

    Only the server migrates (``migrate=True``: it creates the schema or brings it up to
    :data:`SCHEMA_VERSION`); any other opener gets the database only at exactly this version
    and changes nothing otherwise.  A database newer than this cove is refused either way,
    before anything is written to it.
    """

    def __init__(self, url: str, sqlite_synchronous: str = "NORMAL", *,
                 migrate: bool = False) -> None:
        self.url = make_url(url)
        if sqlite_synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise DatabaseError(f"sqlite_synchronous must be NORMAL, FULL or EXTRA, not "
                                f"{sqlite_synchronous!r}")
        self.engine = _create_engine(url, sqlite_synchronous.upper())
        try:
            self._migrate() if migrate else self._check()
        except BaseException:
            self.engine.dispose()
            raise

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(cove_immediate=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    def _check(self) -> None:
        """Refuse a database at any version but this cove's, without writing to it."""
        try:
            with self.read() as conn:
                current = _version(conn)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot open the metadata database {self.url!r}: {exc}") from exc
        self._refuse_newer(current)
        if current != SCHEMA_VERSION:
            found = "has no cove schema" if current is None else \
                f"has schema version {current}"
            raise DatabaseError(
                f"the metadata database {self.url!r} {found}; this cove needs version "
                f"{SCHEMA_VERSION}, and only the cove server migrates it: `cove up` does.")

    def _refuse_newer(self, current: int | None) -> None:
        if current is not None and current > SCHEMA_VERSION:
            raise DatabaseError(
                f"the metadata database {self.url!r} has schema version {current}, written "
                f"by a newer cove; this cove knows versions up to {SCHEMA_VERSION} and will "
                "not touch it: upgrade cove (or use another COVE_HOME).")

    def _migrate(self) -> None:
        try:
            with self.write() as conn:
                current = _version(conn)
                self._refuse_newer(current)  # before create_all writes a table into it
                metadata.create_all(conn, checkfirst=True)
                for version in range((current or 0) + 1, SCHEMA_VERSION + 1):
                    if current is not None:
                        MIGRATIONS[version](conn)
                    conn.execute(insert(schema_version).values(version=version,
                                                               applied_at=time.time()))
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot open the metadata database {self.url!r}: {exc}") from exc


def _version(conn: Connection) -> int | None:
    """The database's schema version; None for a database without cove's schema."""
    if not inspect(conn).has_table(schema_version.name):
        return None
    version: int | None = conn.execute(select(func.max(schema_version.c.version))).scalar()
    return version


def _create_engine(url: str, synchronous: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL (the default): a commit survives any crash of cove itself; after an OS crash
        # or power loss the last commits may roll back (objects vanish whole, never half).
        # FULL: every commit is on disk before it is acknowledged, at ~1-2 ms each.
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("cove_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine

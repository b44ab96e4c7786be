"""The metadata database: schema versions and the migrations between them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, insert, inspect, select, text

from cove.meta import Database
from cove.meta import tables as t
from cove.meta._database import MIGRATIONS, DatabaseError


def _versions(db: Database) -> list[int]:
    with db.read() as conn:
        return [r.version for r in conn.execute(
            select(t.schema_version.c.version).order_by(t.schema_version.c.version))]


def test_a_new_database_is_at_the_current_version(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'cove.db'}", migrate=True)
    assert _versions(db) == list(range(1, t.SCHEMA_VERSION + 1))
    # every step from 2 up is there: an old database can always be brought up to date
    assert sorted(MIGRATIONS) == list(range(2, t.SCHEMA_VERSION + 1))


def test_an_old_database_is_brought_up_to_date_and_keeps_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cove.db'}"
    db = Database(url, migrate=True)
    later = [t.notebook_instances, t.endpoint_traffic, t.endpoint_events, t.console_sessions,
             t.console_used_links]
    with db.write() as conn:  # make it a version-2 database with a bucket in it
        conn.execute(insert(t.buckets).values(name="kept", created=1.0, region="us-east-1"))
        for table in later:
            conn.execute(text(f"DROP TABLE {table.name}"))
        conn.execute(delete(t.schema_version).where(t.schema_version.c.version > 2))
    db.close()

    db = Database(url, migrate=True)
    assert _versions(db) == list(range(1, t.SCHEMA_VERSION + 1))
    names = set(inspect(db.engine).get_table_names())
    assert {table.name for table in later} <= names
    with db.read() as conn:
        assert conn.execute(select(t.buckets.c.name)).scalars().all() == ["kept"]


def test_a_newer_database_is_refused_with_the_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cove.db'}"
    db = Database(url, migrate=True)
    with db.write() as conn:
        conn.execute(insert(t.schema_version).values(version=t.SCHEMA_VERSION + 1,
                                                     applied_at=0.0))
    db.close()
    for migrate in (True, False):
        with pytest.raises(DatabaseError) as refused:
            Database(url, migrate=migrate)
        message = str(refused.value)
        assert f"schema version {t.SCHEMA_VERSION + 1}" in message
        assert f"up to {t.SCHEMA_VERSION}" in message and "upgrade cove" in message
    assert _raw_versions(tmp_path / "cove.db")[-1] == t.SCHEMA_VERSION + 1  # untouched


def _raw_versions(path: Path) -> list[int]:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY 1")]


def _tables(path: Path) -> set[str]:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_only_the_server_migrates_any_other_opener_is_refused_and_changes_nothing(
        tmp_path: Path) -> None:
    path = tmp_path / "cove.db"
    url = f"sqlite:///{path}"
    with pytest.raises(DatabaseError, match="has no cove schema.*only the cove server "
                                            "migrates it: `cove up` does"):
        Database(url)  # a brand-new file: not created by a non-server opener either
    assert _tables(path) == set()
    Database(url, migrate=True).close()
    with Database(url).write() as conn:  # at exactly this version: usable
        conn.execute(insert(t.buckets).values(name="b", created=1.0, region="us-east-1"))
    db = Database(url, migrate=True)
    with db.write() as conn:  # an older database
        conn.execute(text(f"DROP TABLE {t.iam_roles.name}"))
        conn.execute(delete(t.schema_version).where(t.schema_version.c.version > 7))
    db.close()
    before = _tables(path)
    with pytest.raises(DatabaseError, match=f"has schema version 7; this cove needs version "
                                            f"{t.SCHEMA_VERSION}"):
        Database(url)
    assert _tables(path) == before and _raw_versions(path)[-1] == 7
    Database(url, migrate=True).close()  # the server brings it up to date
    assert _raw_versions(path)[-1] == t.SCHEMA_VERSION and t.iam_roles.name in _tables(path)

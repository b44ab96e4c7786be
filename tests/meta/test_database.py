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
    db = Database(f"sqlite:///{tmp_path / 'cove.db'}")
    assert _versions(db) == list(range(1, t.SCHEMA_VERSION + 1))
    # every step from 2 up is there: an old database can always be brought up to date
    assert sorted(MIGRATIONS) == list(range(2, t.SCHEMA_VERSION + 1))


def test_an_old_database_is_brought_up_to_date_and_keeps_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cove.db'}"
    db = Database(url)
    later = [t.notebook_instances, t.endpoint_traffic, t.endpoint_events, t.console_sessions,
             t.console_used_links]
    with db.write() as conn:  # make it a version-2 database with a bucket in it
        conn.execute(insert(t.buckets).values(name="kept", created=1.0, region="us-east-1"))
        for table in later:
            conn.execute(text(f"DROP TABLE {table.name}"))
        conn.execute(delete(t.schema_version).where(t.schema_version.c.version > 2))
    db.close()

    db = Database(url)
    assert _versions(db) == list(range(1, t.SCHEMA_VERSION + 1))
    names = set(inspect(db.engine).get_table_names())
    assert {table.name for table in later} <= names
    with db.read() as conn:
        assert conn.execute(select(t.buckets.c.name)).scalars().all() == ["kept"]


def test_a_newer_database_is_refused_with_the_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cove.db'}"
    db = Database(url)
    with db.write() as conn:
        conn.execute(insert(t.schema_version).values(version=t.SCHEMA_VERSION + 1,
                                                     applied_at=0.0))
    db.close()
    with pytest.raises(DatabaseError, match="newer than this cove"):
        Database(url)

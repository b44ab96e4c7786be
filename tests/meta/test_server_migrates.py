"""Schema versions at the server's start: it migrates an older database and refuses a newer
one, with a message naming both versions, before it writes anything or listens."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from sqlalchemy import delete, insert, text

from cove.meta import Database
from cove.meta import tables as t
from tests.conftest import CoveServer


def _versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY 1")]


def test_the_server_refuses_a_database_newer_than_its_code(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    db = Database(f"sqlite:///{home / 'cove.db'}", migrate=True)
    with db.write() as conn:
        conn.execute(insert(t.schema_version).values(version=t.SCHEMA_VERSION + 1,
                                                     applied_at=0.0))
    db.close()
    env = {**os.environ, "COVE_HOME": str(home)}
    out = subprocess.run([sys.executable, "-m", "cove", "up", "--port", "0"], env=env,
                         text=True, capture_output=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"schema version {t.SCHEMA_VERSION + 1}" in out.stderr
    assert f"up to {t.SCHEMA_VERSION}" in out.stderr and "upgrade cove" in out.stderr
    assert "Traceback" not in out.stderr and "listening" not in out.stdout
    assert _versions(home / "cove.db")[-1] == t.SCHEMA_VERSION + 1
    assert not (home / "server.json").exists()


def test_the_server_migrates_an_older_database_at_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    db = Database(f"sqlite:///{home / 'cove.db'}", migrate=True)
    with db.write() as conn:  # a version-7 database (before IAM) with a bucket in it
        conn.execute(insert(t.buckets).values(name="kept", created=1.0, region="us-east-1"))
        for table in (t.iam_roles, t.iam_role_policies, t.iam_policies, t.iam_attachments,
                      t.access_key_roles):
            conn.execute(text(f"DROP TABLE {table.name}"))
        conn.execute(delete(t.schema_version).where(t.schema_version.c.version > 7))
    db.close()
    server = CoveServer(home).start(timeout=120)
    try:
        assert _versions(home / "cove.db") == list(range(1, t.SCHEMA_VERSION + 1))
        names = [b["Name"] for b in server.client("s3").list_buckets()["Buckets"]]
        assert "kept" in names
    finally:
        server.stop()

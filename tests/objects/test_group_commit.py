"""Group commit (``cove.objects._commits``) on a real SQLite database: concurrent writers share
transactions, each one's refusal undoes its own rows only, and a failed commit fails them all."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select

from cove import errors
from cove.meta import Database
from cove.meta.tables import buckets
from cove.objects._commits import GroupCommit


def _add(name: str, refuse: bool = False) -> Any:
    def work(conn: Connection) -> str:
        conn.execute(insert(buckets).values(name=name, region="r", created=0.0))
        if refuse:  # after writing: its savepoint must undo the row
            raise errors.NoSuchBucket("refused", BucketName=name)
        return name
    return work


def _names(db: Database) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(select(buckets.c.name)).scalars())


def test_concurrent_writers_share_transactions(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'cove.db'}", migrate=True)
    commits = GroupCommit(db)
    results: dict[str, object] = {}
    gate = threading.Barrier(16)

    def writer(n: int) -> None:
        gate.wait(30)
        try:
            results[f"b{n}"] = commits.run(_add(f"b{n}", refuse=n % 4 == 0))
        except errors.NoSuchBucket as exc:
            results[f"b{n}"] = exc

    with commits._leader:  # hold the first batch back so the others queue behind it
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        while len(commits._queue) < 16:
            threading.Event().wait(0.005)
    for thread in threads:
        thread.join(30)
    assert commits.batches < 16  # queued writers were committed together
    refused = {f"b{n}" for n in range(16) if n % 4 == 0}
    assert all(isinstance(results[n], errors.NoSuchBucket) for n in refused)
    assert all(results[n] == n for n in set(results) - refused)
    assert _names(db) == set(results) - refused


def test_a_failed_commit_fails_every_writer_in_it(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'cove.db'}", migrate=True)
    commits = GroupCommit(db)
    commits.run(_add("taken"))

    def interrupt(conn: Connection) -> None:
        raise KeyboardInterrupt  # not a request's own refusal: the whole transaction goes

    raised: dict[str, BaseException] = {}

    def run(name: str, work: Any) -> None:
        try:
            commits.run(work)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertions
            raised[name] = exc

    with commits._leader:  # both queue up, then one of them commits both
        threads = [threading.Thread(target=run, args=("innocent", _add("innocent"))),
                   threading.Thread(target=run, args=("interrupt", interrupt))]
        for thread in threads:
            thread.start()
        while len(commits._queue) < 2:
            threading.Event().wait(0.005)
    for thread in threads:
        thread.join(30)
    assert _names(db) == {"taken"}
    assert isinstance(raised["innocent"], KeyboardInterrupt)
    assert isinstance(raised["interrupt"], KeyboardInterrupt)

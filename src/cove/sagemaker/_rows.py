"""Job rows whose ``describe`` column is the job's Describe response, changed in transactions.

Training and transform jobs keep their state the same way: one row per job with its name, ARN,
status, creation and last-modified times as columns (for listing and filtering) and the whole
Describe document as JSON.  Every change reads the document, edits it and writes it back in
one write transaction, so concurrent changes queue instead of losing each other's edits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, Self, TypeVar

from sqlalchemy import Table, select, update

from cove import errors
from cove.meta import Database


class DescribedRows:
    """The rows of one job table (``training_jobs``, ``transform_jobs``, ``tuning_jobs``).

    ``kind`` names the job in messages ("training job"); ``prefix`` is its Describe members'
    prefix ("TrainingJob": ``TrainingJobName``, ``TrainingJobArn``, ``TrainingJobStatus``).
    With ``stamp`` the document itself carries ``LastModifiedTime`` (DescribeTrainingJob has
    it; DescribeTransformJob does not, its row keeps it in a column).  ``missing`` makes the
    error for an unknown name when it is not the ValidationException training jobs answer.
    """

    def __init__(self, db: Database, table: Table, kind: str, prefix: str,
                 stamp: bool = True,
                 missing: Callable[[str], errors.CoveError] | None = None) -> None:
        self.db, self.table, self.kind, self.stamp = db, table, kind, stamp
        self.missing = missing
        self.name_key, self.arn_key = f"{prefix}Name", f"{prefix}Arn"
        self.status_key = f"{prefix}Status"

    def insert(self, describe: dict[str, Any]) -> None:
        """Add a job; ResourceInUse if one of that name exists."""
        name, c = describe[self.name_key], self.table.c
        with self.db.write() as conn:
            if conn.execute(select(c.name).where(c.name == name)).first():
                raise errors.ResourceInUse(
                    f"{self.kind.capitalize()} names must be unique within an AWS account and "
                    f"region, and a {self.kind} with this name already exists "
                    f"({describe[self.arn_key]})")
            conn.execute(self.table.insert().values(
                name=name, arn=describe[self.arn_key], status=describe[self.status_key],
                creation_time=describe["CreationTime"],
                last_modified=describe.get("LastModifiedTime", describe["CreationTime"]),
                describe=describe))

    def get(self, name: str) -> dict[str, Any]:
        """The job's Describe document; the ValidationException clients expect if it is missing."""
        with self.db.read() as conn:
            row = conn.execute(select(self.table.c.describe).where(
                self.table.c.name == name)).first()
        if row is None:
            raise self.not_found(name)
        return dict(row.describe)

    def all(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [dict(r.describe) for r in conn.execute(select(self.table.c.describe))]

    def exists_arn(self, arn: str) -> bool:
        with self.db.read() as conn:
            return conn.execute(select(self.table.c.name).where(
                self.table.c.arn == arn)).first() is not None

    def change(self, name: str, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``mutate`` to a job's Describe document in one transaction."""
        c = self.table.c
        with self.db.write() as conn:
            row = conn.execute(select(c.describe).where(c.name == name)).first()
            if row is None:
                raise self.not_found(name)
            describe = dict(row.describe)
            mutate(describe)
            now = time.time()
            if self.stamp:
                describe["LastModifiedTime"] = now
            conn.execute(update(self.table).where(c.name == name).values(
                describe=describe, status=describe[self.status_key], last_modified=now))
        return describe

    def not_found(self, name: str) -> errors.CoveError:
        if self.missing is not None:
            return self.missing(name)
        return errors.ValidationError(f"Requested resource not found: Could not find "
                                      f"{self.kind} '{name}'.")


class Stored(Protocol):
    """What a record needs for :class:`RecordRows` to keep it: the row's columns."""

    @property
    def name(self) -> str: ...
    @property
    def arn(self) -> str: ...
    @property
    def created(self) -> float: ...
    @property
    def modified(self) -> float: ...
    @property
    def status_value(self) -> str: ...

    def touched(self, now: float) -> Self:
        """The same record, last modified at ``now``."""


R = TypeVar("R", bound=Stored)


class RecordRows(Generic[R]):
    """The rows of one kind of record, each kept as a document in the row's ``describe`` column
    (the layout earlier versions stored, so existing databases read unchanged).  ``load`` and
    ``dump`` convert a stored document to the record and back; every change is a function from
    the record to its next one, applied in one write transaction."""

    def __init__(self, db: Database, table: Table, kind: str,
                 load: Callable[[dict[str, Any]], R], dump: Callable[[R], dict[str, Any]],
                 missing: Callable[[str], errors.CoveError] | None = None) -> None:
        self.db, self.table, self.kind = db, table, kind
        self.load, self.dump, self.missing = load, dump, missing

    def insert(self, record: R) -> None:
        """Add a record; ResourceInUse if one of that name exists."""
        c = self.table.c
        with self.db.write() as conn:
            if conn.execute(select(c.name).where(c.name == record.name)).first():
                raise errors.ResourceInUse(
                    f"{self.kind.capitalize()} names must be unique within an AWS account and "
                    f"region, and a {self.kind} with this name already exists ({record.arn})")
            conn.execute(self.table.insert().values(
                name=record.name, arn=record.arn, status=record.status_value,
                creation_time=record.created, last_modified=record.modified,
                describe=self.dump(record)))

    def get(self, name: str) -> R:
        with self.db.read() as conn:
            row = conn.execute(select(self.table.c.describe).where(
                self.table.c.name == name)).first()
        if row is None:
            raise self.not_found(name)
        return self.load(dict(row.describe))

    def all(self) -> list[R]:
        with self.db.read() as conn:
            rows = conn.execute(select(self.table.c.describe).order_by(
                self.table.c.creation_time)).all()
        return [self.load(dict(r.describe)) for r in rows]

    def with_status(self, *statuses: str) -> list[R]:
        """Records in any of ``statuses``, oldest first."""
        c = self.table.c
        with self.db.read() as conn:
            rows = conn.execute(select(c.describe).where(c.status.in_(statuses)).order_by(
                c.creation_time)).all()
        return [self.load(dict(r.describe)) for r in rows]

    def exists_arn(self, arn: str) -> bool:
        with self.db.read() as conn:
            return conn.execute(select(self.table.c.name).where(
                self.table.c.arn == arn)).first() is not None

    def change(self, name: str, step: Callable[[R], R]) -> R:
        """Replace a record by ``step(record)`` in one transaction; the new record."""
        c = self.table.c
        with self.db.write() as conn:
            row = conn.execute(select(c.describe).where(c.name == name)).first()
            if row is None:
                raise self.not_found(name)
            record = step(self.load(dict(row.describe))).touched(time.time())
            conn.execute(update(self.table).where(c.name == name).values(
                describe=self.dump(record), status=record.status_value,
                last_modified=record.modified))
        return record

    def not_found(self, name: str) -> errors.CoveError:
        if self.missing is not None:
            return self.missing(name)
        return errors.ValidationError(f"Requested resource not found: Could not find "
                                      f"{self.kind} '{name}'.")

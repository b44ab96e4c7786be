"""Job rows whose ``describe`` column is the job's Describe response, changed in transactions.

Training and transform jobs keep their state the same way: one row per job with its name, ARN,
status, creation and last-modified times as columns (for listing and filtering) and the whole
Describe document as JSON.  Every change reads the document, edits it and writes it back in
one write transaction, so concurrent changes queue instead of losing each other's edits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

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

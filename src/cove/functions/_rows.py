"""Functions as stored: a ``functions`` row keeps the FunctionConfiguration document (the
layout earlier versions wrote, so existing databases read unchanged) and, in columns, the code's
file key, the workers' key pair and the resource policy.  :func:`configuration` is the one
writer of that document: the row and GetFunctionConfiguration get the same one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cove import errors
from cove.functions._records import Function, FunctionState, UpdateStatus
from cove.meta import Database
from cove.meta.tables import functions as table

_STAMP = "%Y-%m-%dT%H:%M:%S.%f"


def last_modified(stamp: float) -> str:
    """Lambda's LastModified: ``2026-11-24T05:40:00.123+0000``."""
    return datetime.fromtimestamp(stamp, UTC).strftime(_STAMP)[:-3] + "+0000"


def _parse_modified(text: str) -> float:
    return datetime.strptime(text.removesuffix("+0000"), _STAMP).replace(tzinfo=UTC).timestamp()


def configuration(fn: Function) -> dict[str, Any]:
    """The FunctionConfiguration document (GetFunctionConfiguration, CreateFunction, ...)."""
    doc: dict[str, Any] = {
        "FunctionName": fn.name, "FunctionArn": fn.arn, "Runtime": fn.runtime,
        "Role": fn.role, "Handler": fn.handler, "Description": fn.description,
        "Timeout": fn.timeout, "MemorySize": fn.memory,
        "LastModified": last_modified(fn.modified), "Version": "$LATEST",
        "TracingConfig": {"Mode": "PassThrough"}, "RevisionId": fn.revision_id,
        "State": fn.state.value, "LastUpdateStatus": fn.update_status.value,
        "PackageType": "Zip", "Architectures": ["x86_64"], "EphemeralStorage": {"Size": 512},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": fn.log_group},
        "CodeSha256": fn.code_sha256, "CodeSize": fn.code_size}
    if fn.variables:
        doc["Environment"] = {"Variables": dict(fn.variables)}
    return doc


def load(row: Row[Any]) -> Function:
    doc: dict[str, Any] = row.configuration
    return Function(
        name=row.name, arn=doc["FunctionArn"], runtime=doc["Runtime"],
        role=doc.get("Role") or "", handler=doc["Handler"],
        description=doc.get("Description", ""), timeout=int(doc["Timeout"]),
        memory=int(doc["MemorySize"]), modified=_parse_modified(doc["LastModified"]),
        revision_id=doc["RevisionId"], code_sha256=doc["CodeSha256"],
        code_size=int(doc["CodeSize"]), code_key=row.code_sha,
        access_key_id=row.access_key_id, created=row.created,
        variables=MappingProxyType(dict((doc.get("Environment") or {}).get("Variables") or {})),
        state=FunctionState(doc.get("State", FunctionState.ACTIVE.value)),
        update_status=UpdateStatus(doc.get("LastUpdateStatus", UpdateStatus.SUCCESSFUL.value)),
        policy=tuple(MappingProxyType(dict(s)) for s in row.policy or ()))


def _values(fn: Function) -> dict[str, Any]:
    return {"configuration": configuration(fn), "code_sha": fn.code_key,
            "access_key_id": fn.access_key_id, "policy": [dict(s) for s in fn.policy]}


class FunctionRows:
    """The ``functions`` table as records; ``missing(name)`` is the error for an unknown one."""

    def __init__(self, db: Database, missing: Callable[[str], errors.CoveError]) -> None:
        self.db, self.missing = db, missing

    def insert(self, fn: Function) -> None:
        """Add a function; ResourceConflict if one of that name exists."""
        conflict = errors.ResourceConflictException(f"Function already exist: {fn.name}",
                                                    Type="User")
        try:
            with self.db.write() as conn:
                if conn.execute(select(table.c.name).where(table.c.name == fn.name)).first():
                    raise conflict
                conn.execute(insert(table).values(name=fn.name, created=fn.created,
                                                  **_values(fn)))
        except IntegrityError as exc:  # created by a concurrent request since the check
            raise conflict from exc

    def exists(self, name: str) -> bool:
        with self.db.read() as conn:
            return conn.execute(select(table.c.name).where(table.c.name == name)
                                ).first() is not None

    def get(self, name: str) -> Function:
        with self.db.read() as conn:
            row = conn.execute(select(table).where(table.c.name == name)).first()
        if row is None:
            raise self.missing(name)
        return load(row)

    def all(self) -> list[Function]:
        with self.db.read() as conn:
            return [load(r) for r in conn.execute(select(table).order_by(table.c.name))]

    def change(self, name: str, step: Callable[[Function], Function]) -> Function:
        """Replace a function by ``step(function)`` in one transaction; the new record."""
        with self.db.write() as conn:
            row = conn.execute(select(table).where(table.c.name == name)).first()
            if row is None:
                raise self.missing(name)
            fn = step(load(row))
            conn.execute(update(table).where(table.c.name == name).values(**_values(fn)))
        return fn

    def delete(self, name: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(table).where(table.c.name == name))

    def uses_code(self, key: str) -> bool:
        with self.db.read() as conn:
            return conn.execute(select(table.c.name).where(table.c.code_sha == key)
                                ).first() is not None

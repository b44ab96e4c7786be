"""Roles and policies, durably: the IAM resources of cove's one account.

Compiled policies are cached per role and dropped on every IAM write, so authorising a request
costs no database round trip.
"""

from __future__ import annotations

import re
import secrets
import string
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from cove import errors
from cove.iam._managed import (
    AWS_POLICY_PREFIX,
    DEFAULT_ROLE_NAME,
    DEFAULT_ROLE_POLICY,
    DEFAULT_ROLE_POLICY_NAME,
    MANAGED,
    managed_arn,
)
from cove.iam._policy import Policy, parse_policy
from cove.meta import Database
from cove.meta.tables import iam_attachments, iam_policies, iam_role_policies, iam_roles

_NAME = re.compile(r"[\w+=,.@-]{1,64}")
_PATH = re.compile(r"/([\x21-\x7e]*/)?")


@dataclass(frozen=True)
class Role:
    name: str
    role_id: str
    path: str
    trust_policy: str
    description: str
    max_session_duration: int
    created: float
    arn: str


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    arn: str
    policy_id: str
    path: str
    description: str
    document: str
    created: float
    attachments: int

    @property
    def aws_managed(self) -> bool:
        return self.arn.startswith(AWS_POLICY_PREFIX)


def role_name_of(arn: str) -> str:
    """``arn:aws:iam::ACCOUNT:role/[path/]NAME`` -> NAME (a role is found by its name: cove has
    one account, so the account field of the ARN is not compared)."""
    match = re.fullmatch(r"arn:aws[\w-]*:iam::\d{12}:role/(?:[\x21-\x7e]*/)?([\w+=,.@-]{1,64})",
                         arn or "")
    if match is None:
        raise errors.InvalidInput(f"{arn!r} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME).")
    return match.group(1)


class Roles:
    def __init__(self, db: Database, account_id: str) -> None:
        self.db = db
        self.account_id = account_id
        self._lock = threading.Lock()
        self._compiled: dict[str, tuple[Policy, ...]] = {}

    # --- roles ------------------------------------------------------------------------------

    def create_role(self, name: str, trust_policy: str, path: str = "/",
                    description: str = "", max_session_duration: int = 3600) -> Role:
        _check_name(name, "RoleName")
        _check_path(path)
        parse_policy(trust_policy, "AssumeRolePolicyDocument", trust=True, limit=2048)
        if not 3600 <= max_session_duration <= 43200:
            raise errors.ValidationError("MaxSessionDuration must be 3600..43200 seconds.")
        try:
            with self.db.write() as conn:
                conn.execute(insert(iam_roles).values(
                    name=name, role_id=_id("AROA"), path=path, trust_policy=trust_policy,
                    description=description, max_session_duration=max_session_duration,
                    created=time.time()))
        except IntegrityError as exc:
            raise errors.EntityAlreadyExists(
                f"Role with name {name} already exists.") from exc
        return self.role(name)

    def role(self, name: str) -> Role:
        with self.db.read() as conn:
            row = conn.execute(select(iam_roles).where(iam_roles.c.name == name)).first()
        if row is None:
            raise errors.NoSuchEntity(f"The role with name {name} cannot be found.")
        return self._role(row)

    def roles(self, path_prefix: str = "/") -> list[Role]:
        with self.db.read() as conn:
            rows = conn.execute(select(iam_roles).order_by(iam_roles.c.name)).all()
        return [self._role(r) for r in rows if r.path.startswith(path_prefix)]

    def delete_role(self, name: str) -> None:
        with self.db.write() as conn:
            self._must_exist(conn, name)
            inline = conn.execute(select(func.count()).select_from(iam_role_policies).where(
                iam_role_policies.c.role == name)).scalar_one()
            attached = conn.execute(select(func.count()).select_from(iam_attachments).where(
                iam_attachments.c.role == name)).scalar_one()
            if inline or attached:
                raise errors.DeleteConflict(
                    "Cannot delete entity, must delete policies first." if inline else
                    "Cannot delete entity, must detach all policies first.")
            conn.execute(delete(iam_roles).where(iam_roles.c.name == name))
        self._changed()

    def update_trust(self, name: str, trust_policy: str) -> None:
        parse_policy(trust_policy, "AssumeRolePolicyDocument", trust=True, limit=2048)
        with self.db.write() as conn:
            self._must_exist(conn, name)
            conn.execute(update(iam_roles).where(iam_roles.c.name == name).values(
                trust_policy=trust_policy))
        self._changed()

    # --- inline policies --------------------------------------------------------------------

    def put_role_policy(self, role: str, name: str, document: str) -> None:
        _check_name(name, "PolicyName", 128)
        parse_policy(document, name)
        with self.db.write() as conn:
            self._must_exist(conn, role)
            conn.execute(delete(iam_role_policies).where(
                (iam_role_policies.c.role == role) & (iam_role_policies.c.name == name)))
            conn.execute(insert(iam_role_policies).values(role=role, name=name,
                                                          document=document))
        self._changed()

    def role_policy(self, role: str, name: str) -> str:
        with self.db.read() as conn:
            self._must_exist(conn, role)
            document = conn.execute(select(iam_role_policies.c.document).where(
                (iam_role_policies.c.role == role) & (iam_role_policies.c.name == name))
            ).scalar_one_or_none()
        if document is None:
            raise errors.NoSuchEntity(
                f"The role policy with name {name} cannot be found.")
        return str(document)

    def delete_role_policy(self, role: str, name: str) -> None:
        self.role_policy(role, name)
        with self.db.write() as conn:
            conn.execute(delete(iam_role_policies).where(
                (iam_role_policies.c.role == role) & (iam_role_policies.c.name == name)))
        self._changed()

    def role_policy_names(self, role: str) -> list[str]:
        with self.db.read() as conn:
            self._must_exist(conn, role)
            return list(conn.execute(select(iam_role_policies.c.name).where(
                iam_role_policies.c.role == role).order_by(iam_role_policies.c.name)).scalars())

    # --- managed policies -------------------------------------------------------------------

    def create_policy(self, name: str, document: str, path: str = "/",
                      description: str = "") -> ManagedPolicy:
        _check_name(name, "PolicyName", 128)
        _check_path(path)
        parse_policy(document, name, limit=6144)
        arn = f"arn:aws:iam::{self.account_id}:policy{path}{name}"
        try:
            with self.db.write() as conn:
                conn.execute(insert(iam_policies).values(
                    arn=arn, name=name, policy_id=_id("ANPA"), path=path,
                    description=description, document=document, created=time.time()))
        except IntegrityError as exc:
            raise errors.EntityAlreadyExists(
                f"A policy called {name} already exists. Duplicate names are not "
                "allowed.") from exc
        return self.policy(arn)

    def policy(self, arn: str) -> ManagedPolicy:
        with self.db.read() as conn:
            return self._policy(conn, arn)

    def policies(self) -> list[ManagedPolicy]:
        with self.db.read() as conn:
            arns = [managed_arn(n) for n in MANAGED] + list(conn.execute(
                select(iam_policies.c.arn)).scalars())
            return sorted((self._policy(conn, a) for a in arns), key=lambda p: p.name)

    def attach(self, role: str, policy_arn: str) -> None:
        with self.db.write() as conn:
            self._must_exist(conn, role)
            self._policy(conn, policy_arn)
            conn.execute(delete(iam_attachments).where(
                (iam_attachments.c.role == role) & (iam_attachments.c.policy_arn == policy_arn)))
            conn.execute(insert(iam_attachments).values(role=role, policy_arn=policy_arn))
        self._changed()

    def detach(self, role: str, policy_arn: str) -> None:
        with self.db.write() as conn:
            self._must_exist(conn, role)
            gone = conn.execute(delete(iam_attachments).where(
                (iam_attachments.c.role == role) & (iam_attachments.c.policy_arn == policy_arn)))
        if not gone.rowcount:
            raise errors.NoSuchEntity(f"Policy {policy_arn} was not found.")
        self._changed()

    def attached(self, role: str) -> list[ManagedPolicy]:
        with self.db.read() as conn:
            self._must_exist(conn, role)
            arns = conn.execute(select(iam_attachments.c.policy_arn).where(
                iam_attachments.c.role == role).order_by(iam_attachments.c.policy_arn)).scalars()
            return [self._policy(conn, a) for a in arns]

    # --- what a role may do -------------------------------------------------------------------

    def policies_of(self, role: str) -> tuple[Policy, ...]:
        """The compiled inline and attached policies of ``role`` (none if it is gone)."""
        cached = self._compiled.get(role)
        if cached is not None:
            return cached
        with self._lock:
            generation = self._compiled
        with self.db.read() as conn:
            inline = conn.execute(select(iam_role_policies.c.name, iam_role_policies.c.document)
                                  .where(iam_role_policies.c.role == role)).all()
            arns = list(conn.execute(select(iam_attachments.c.policy_arn).where(
                iam_attachments.c.role == role)).scalars())
            attached = [self._policy(conn, arn) for arn in arns]
        compiled = tuple([parse_policy(r.document, r.name, limit=1 << 20) for r in inline]
                         + [parse_policy(p.document, p.name, limit=1 << 20) for p in attached])
        with self._lock:
            if generation is self._compiled:  # no write since we read: the cache is current
                self._compiled[role] = compiled
        return compiled

    def trust_policy(self, role: Role) -> Policy:
        return parse_policy(role.trust_policy, role.name, trust=True, limit=1 << 20)

    def ensure_default(self) -> None:
        """At every start: the default execution role exists (made once, then the user's)."""
        try:
            self.role(DEFAULT_ROLE_NAME)
        except errors.NoSuchEntity:
            pass
        else:
            return
        try:
            self.create_role(DEFAULT_ROLE_NAME, self.default_trust_policy(), "/",
                             "cove's default execution role: what jobs, models, notebooks and "
                             "functions may do unless they name another role")
        except errors.EntityAlreadyExists:
            return  # another process made it first
        self.put_role_policy(DEFAULT_ROLE_NAME, DEFAULT_ROLE_POLICY_NAME, DEFAULT_ROLE_POLICY)

    def default_trust_policy(self) -> str:
        import json

        return json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": ["sagemaker.amazonaws.com",
                                                          "lambda.amazonaws.com"]},
             "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{self.account_id}:root"},
             "Action": "sts:AssumeRole"}]}, indent=4)

    # --- rows -------------------------------------------------------------------------------

    def _changed(self) -> None:
        with self._lock:
            self._compiled = {}

    def _role(self, row: object) -> Role:
        r = row
        return Role(r.name, r.role_id, r.path, r.trust_policy, r.description,  # type: ignore[attr-defined]
                    r.max_session_duration, r.created,  # type: ignore[attr-defined]
                    f"arn:aws:iam::{self.account_id}:role{r.path}{r.name}")  # type: ignore[attr-defined]

    @staticmethod
    def _must_exist(conn: Connection, role: str) -> None:
        if conn.execute(select(iam_roles.c.name).where(iam_roles.c.name == role)).first() is None:
            raise errors.NoSuchEntity(f"The role with name {role} cannot be found.")

    def _policy(self, conn: Connection, arn: str) -> ManagedPolicy:
        count = conn.execute(select(func.count()).select_from(iam_attachments).where(
            iam_attachments.c.policy_arn == arn)).scalar_one()
        for name, (path, description, document) in MANAGED.items():
            if managed_arn(name) == arn:
                return ManagedPolicy(name, arn, "ANPA" + _stable_id(name), path, description,
                                     document, 1546300800.0, count)
        row = conn.execute(select(iam_policies).where(iam_policies.c.arn == arn)).first()
        if row is None:
            raise errors.NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")
        return ManagedPolicy(row.name, row.arn, row.policy_id, row.path, row.description,
                             row.document, row.created, count)


def _check_name(name: str, what: str, limit: int = 64) -> None:
    if not isinstance(name, str) or len(name) > limit or not _NAME.fullmatch(name):
        raise errors.ValidationError(
            f"1 validation error detected: Value {name!r} at '{what}' failed to satisfy "
            f"constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and "
            f"have length <= {limit}")


def _check_path(path: str) -> None:
    if len(path) > 512 or not _PATH.fullmatch(path):
        raise errors.ValidationError(
            f"The specified value for path {path!r} is invalid. It must begin and end with / "
            "and contain only alphanumeric characters and/or / characters.")


def _id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(string.ascii_uppercase + string.digits)
                            for _ in range(17))


def _stable_id(name: str) -> str:
    import hashlib

    return hashlib.sha256(name.encode()).hexdigest().upper()[:17]

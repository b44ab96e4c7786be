"""Who may sign requests: the root key pair and the scoped keys cove issues to code it runs.

A training job, a notebook or a function gets a key pair of its own (never cove's root secret)
that acts for the IAM role its resource names (``assumed-role/ROLE/<resource name>``), valid
while its owner runs; ``revoke`` ends it.  AssumeRole issues keys that expire by themselves.  The
edge's verifier asks ``Identity.lookup``; the authorizer asks ``Identity.role_of``.

Every issued key is temporary in AWS's sense: an ``ASIA`` key id whose requests must carry its
session token.  The token is an HMAC of the key id under cove's root secret, so it is checked
without being stored, and neither the key id nor the key's secret reveals it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import time
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import delete, insert, select, update

from cove import errors
from cove.config import Credentials
from cove.iam import DEFAULT_ROLE_NAME, Role, Roles, role_name_of, trusts
from cove.meta import Database
from cove.meta.tables import access_key_roles, access_keys


@dataclass(frozen=True)
class Principal:
    """Who signed: an access key, its secret and the account it acts for."""

    access_key_id: str
    secret_access_key: str
    account_id: str
    arn: str
    #: A temporary key's session token, which every request it signs must carry (None: a
    #: long-term key, which needs none).
    session_token: str | None = None
    #: When a temporary key stops working (epoch seconds; None: when it is revoked).
    expires: float | None = None


@dataclass(frozen=True)
class _Scoped:
    principal: Principal
    role: str
    expires: float | None


class Identity:
    def __init__(self, db: Database, root: Credentials, roles: Roles) -> None:
        self.db = db
        self.root = root
        self.roles = roles
        self._root_principal = Principal(root.access_key_id, root.secret_access_key,
                                         root.account_id, root.caller_arn)

    def lookup(self, access_key_id: str) -> Principal | None:
        """Who signs with ``access_key_id`` (an expired key too: the verifier says it expired)."""
        if access_key_id == self.root.access_key_id:
            return self._root_principal
        scoped = self._scoped(access_key_id)
        return scoped.principal if scoped else None

    def is_root(self, principal: Principal) -> bool:
        return principal.access_key_id == self.root.access_key_id

    def role_of(self, access_key_id: str) -> str | None:
        """The role name a scoped key acts for (None for the root key or an unknown key)."""
        scoped = self._live(access_key_id)
        return scoped.role if scoped else None

    def assumable(self, role_arn: str, service: str) -> Role:
        """The role ``role_arn`` names, if its trust policy lets ``service`` (e.g.
        ``sagemaker.amazonaws.com``) assume it; ValidationError otherwise, worded as SageMaker
        words it (Lambda's callers reword it)."""
        refusal = errors.ValidationError(
            f"Could not assume role {role_arn}. Please ensure that the role exists and allows "
            f"principal '{service}' to assume the role.")
        try:
            role = self.roles.role(role_name_of(role_arn))
        except (errors.NoSuchEntity, errors.InvalidInput) as exc:
            raise refusal from exc
        if not trusts(self.roles.trust_policy(role), "Service", service):
            raise refusal
        return role

    def issue(self, owner: str, role_arn: str, session: str,
              expires: float | None = None) -> Credentials:
        """A new key pair for ``owner`` (an ARN) acting for ``role_arn`` as ``session``,
        usable until revoked (or until ``expires``, epoch seconds)."""
        key_id = "ASIA" + _random(string.ascii_uppercase + string.digits, 16)
        creds = Credentials(key_id, _random(string.ascii_letters + string.digits, 40),
                            self.root.account_id, self.session_token(key_id))
        role = role_name_of(role_arn) if role_arn else DEFAULT_ROLE_NAME
        with self.db.write() as conn:
            conn.execute(insert(access_keys).values(
                access_key_id=creds.access_key_id, secret_access_key=creds.secret_access_key,
                owner=owner, created=time.time()))
            conn.execute(insert(access_key_roles).values(
                access_key_id=creds.access_key_id, role=role, session=session[:64],
                expires=expires))
        return creds

    def revoke(self, owner: str) -> None:
        self.revoke_all([owner])

    def revoke_all(self, owners: list[str]) -> None:
        """End every key of these owners, in one transaction."""
        if not owners:
            return
        with self.db.write() as conn:
            keys = select(access_keys.c.access_key_id).where(access_keys.c.owner.in_(owners))
            conn.execute(delete(access_key_roles).where(
                access_key_roles.c.access_key_id.in_(keys)))
            conn.execute(delete(access_keys).where(access_keys.c.owner.in_(owners)))
            # expired AssumeRole keys go too, so the table does not grow without end
            stale = select(access_key_roles.c.access_key_id).where(
                access_key_roles.c.expires < time.time())
            conn.execute(delete(access_keys).where(access_keys.c.access_key_id.in_(stale)))
            conn.execute(delete(access_key_roles).where(
                access_key_roles.c.expires < time.time()))
        self._scoped.cache_clear()

    def revoke_prefix(self, prefix: str) -> None:
        """End every key whose owner starts with ``prefix``."""
        with self.db.read() as conn:
            owners = list(conn.execute(select(access_keys.c.owner).distinct().where(
                access_keys.c.owner.startswith(prefix, autoescape=True))).scalars())
        self.revoke_all(owners)

    def rebind(self, owner: str, role_arn: str) -> None:
        """``owner``'s keys now act for ``role_arn`` (a function whose Role changed)."""
        role = role_name_of(role_arn) if role_arn else DEFAULT_ROLE_NAME
        with self.db.write() as conn:
            keys = select(access_keys.c.access_key_id).where(access_keys.c.owner == owner)
            conn.execute(update(access_key_roles).where(
                access_key_roles.c.access_key_id.in_(keys)).values(role=role))
        self._scoped.cache_clear()

    def session_token(self, access_key_id: str) -> str:
        """The session token that must come with a temporary key's requests."""
        digest = hmac.digest(self.root.secret_access_key.encode(),
                             b"cove session token\0" + access_key_id.encode(), hashlib.sha256)
        return base64.b64encode(b"cove" + digest).decode()

    def assumed_arn(self, role: str, session: str) -> str:
        return f"arn:aws:sts::{self.root.account_id}:assumed-role/{role}/{session}"

    def _live(self, access_key_id: str) -> _Scoped | None:
        scoped = self._scoped(access_key_id)
        if scoped is None or (scoped.expires is not None and scoped.expires < time.time()):
            return None
        return scoped

    @lru_cache(maxsize=4096)  # noqa: B019 - one Identity per server; cleared on revoke
    def _scoped(self, access_key_id: str) -> _Scoped | None:
        with self.db.read() as conn:
            row = conn.execute(select(access_keys, access_key_roles.c.role,
                                      access_key_roles.c.session, access_key_roles.c.expires)
                               .outerjoin(access_key_roles, access_key_roles.c.access_key_id
                                          == access_keys.c.access_key_id)
                               .where(access_keys.c.access_key_id == access_key_id)).first()
        if row is None:
            return None
        role, session = row.role or DEFAULT_ROLE_NAME, row.session or "cove"
        return _Scoped(Principal(row.access_key_id, row.secret_access_key, self.root.account_id,
                                 self.assumed_arn(role, session),
                                 self.session_token(row.access_key_id), row.expires),
                       role, row.expires)


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))

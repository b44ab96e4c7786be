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
import re
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
from cove.meta.tables import access_key_roles, access_keys, s3_accounts


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


#: Who sends an unsigned S3 request: it may do only what an ACL grants everyone.
ANONYMOUS = Principal("", "", "", "anonymous")
#: The canonical user id of cove's own account (S3's Owner/ID of what it owns).
MAIN_CANONICAL_ID = "cove"


@dataclass(frozen=True)
class Account:
    """An AWS account as S3 sees it: its id, its canonical user id and a display name."""

    name: str
    account_id: str
    canonical_id: str


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
        self.main = Account("cove", root.account_id, MAIN_CANONICAL_ID)
        # other accounts by access key id, loaded once, kept in step by create_account
        self._others: dict[str, tuple[Account, Principal]] | None = None

    def lookup(self, access_key_id: str) -> Principal | None:
        """Who signs with ``access_key_id`` (an expired key too: the verifier says it expired)."""
        if access_key_id == self.root.access_key_id:
            return self._root_principal
        scoped = self._scoped(access_key_id)
        if scoped is not None:
            return scoped.principal
        other = self._other_accounts().get(access_key_id)
        return other[1] if other else None

    # --- other accounts (S3 only) -----------------------------------------------------------

    def create_account(self, name: str) -> tuple[Account, Credentials]:
        """Another account, with a long-term key pair, that may sign S3 requests only: it owns
        the buckets it creates and reaches others' through their ACLs."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
            raise errors.ValidationError("An account name has 1-64 letters, digits, '_', '.' "
                                         "and '-', and begins with a letter or digit.")
        account = Account(name, _random(string.digits, 12), secrets.token_hex(32))
        creds = Credentials("AKIA" + _random(string.ascii_uppercase + string.digits, 16),
                            _random(string.ascii_letters + string.digits, 40),
                            account.account_id)
        with self.db.write() as conn:
            if conn.execute(select(s3_accounts.c.name).where(s3_accounts.c.name == name)
                            ).first() is not None:
                raise errors.ResourceInUse(f"An account named {name!r} exists already.")
            conn.execute(insert(s3_accounts).values(
                name=name, account_id=account.account_id, canonical_id=account.canonical_id,
                access_key_id=creds.access_key_id, secret_access_key=creds.secret_access_key,
                created=time.time()))
        self._others = None
        return account, creds

    def accounts(self) -> list[Account]:
        """cove's own account, then the others by name."""
        others = sorted((a for a, _ in self._other_accounts().values()), key=lambda a: a.name)
        return [self.main, *others]

    def account_of(self, principal: Principal) -> Account | None:
        """The account a principal acts for (None: anonymous)."""
        if principal is ANONYMOUS:
            return None
        other = self._other_accounts().get(principal.access_key_id)
        return other[0] if other and other[1] == principal else self.main

    def display_name(self, canonical_id: str) -> str | None:
        """An account's name by its canonical user id (None: no account has that id)."""
        return next((a.name for a in self.accounts() if a.canonical_id == canonical_id), None)

    def is_other_account(self, principal: Principal) -> bool:
        return principal.access_key_id in self._other_accounts()

    def _other_accounts(self) -> dict[str, tuple[Account, Principal]]:
        others = self._others
        if others is None:
            with self.db.read() as conn:
                rows = conn.execute(select(s3_accounts)).all()
            others = {r.access_key_id: (
                Account(r.name, r.account_id, r.canonical_id),
                Principal(r.access_key_id, r.secret_access_key, r.account_id,
                          f"arn:aws:iam::{r.account_id}:root")) for r in rows}
            self._others = others
        return others

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

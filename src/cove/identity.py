"""Who may sign requests: the root key pair and the scoped keys cove issues to code it runs.

A training job or a function gets a key pair of its own (never cove's root secret), valid while
its owner runs; ``revoke`` ends it.  The edge's verifier asks ``Identity.lookup``.
"""

from __future__ import annotations

import secrets
import string
import time
from functools import lru_cache

from sqlalchemy import delete, insert, select

from cove.config import Credentials
from cove.edge import Principal
from cove.meta import Database
from cove.meta.tables import access_keys


class Identity:
    def __init__(self, db: Database, root: Credentials) -> None:
        self.db = db
        self.root = root
        self._root_principal = Principal(root.access_key_id, root.secret_access_key,
                                         root.account_id, root.caller_arn)

    def lookup(self, access_key_id: str) -> Principal | None:
        if access_key_id == self.root.access_key_id:
            return self._root_principal
        return self._scoped(access_key_id)

    def issue(self, owner: str) -> Credentials:
        """A new key pair for ``owner`` (an ARN), usable until revoked."""
        creds = Credentials("ASIA" + _random(string.ascii_uppercase + string.digits, 16),
                            _random(string.ascii_letters + string.digits, 40),
                            self.root.account_id)
        with self.db.write() as conn:
            conn.execute(insert(access_keys).values(
                access_key_id=creds.access_key_id, secret_access_key=creds.secret_access_key,
                owner=owner, created=time.time()))
        return creds

    def revoke(self, owner: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(access_keys).where(access_keys.c.owner == owner))
        self._scoped.cache_clear()

    @lru_cache(maxsize=1024)  # noqa: B019 - one Identity per server; cleared on revoke
    def _scoped(self, access_key_id: str) -> Principal | None:
        with self.db.read() as conn:
            row = conn.execute(select(access_keys).where(
                access_keys.c.access_key_id == access_key_id)).first()
        if row is None:
            return None
        return Principal(row.access_key_id, row.secret_access_key, self.root.account_id,
                         self.root.caller_arn)


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))

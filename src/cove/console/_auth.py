"""Who may use the console: sign-in, sessions, one-time links and CSRF.

A session is a row in ``console_sessions``; the cookie carries its id signed with an HMAC key
kept under ``$COVE_HOME`` (mode 0600), so sessions survive a restart and sign-out (deleting the
row) revokes one at once.  Each session has its own CSRF token, which every state-changing
request must echo (form field ``csrf`` or header ``X-CSRF-Token``); requests whose ``Origin``
is another site are refused as well.

One-time links (``cove ui``, ``cove up``) are ``nonce.expiry.signature`` with the same key:
the CLI mints them without asking the server, the server accepts each nonce once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request

from cove import errors
from cove.config import CONSOLE_COOKIE, CONSOLE_PATH, Credentials, secret_file
from cove.meta import Database
from cove.meta.tables import console_sessions, console_used_links

COOKIE = CONSOLE_COOKIE
SESSION_SECONDS = 12 * 3600.0
LINK_SECONDS = 15 * 60.0
KEY_FILE = "console.key"


class SignInFailed(errors.ClientError):
    code = "SignInFailed"
    status = 401


class Forbidden(errors.ClientError):
    code = "AccessDenied"
    status = 403


@dataclass(frozen=True)
class Session:
    id: str
    csrf: str
    expires: float


def console_key(home: Path) -> bytes:
    """The HMAC key of ``home``'s console, created (0600) on first use."""
    return secret_file(home / KEY_FILE, lambda: secrets.token_bytes(32))


def _sign(key: bytes, purpose: str, value: str) -> str:
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def mint_link(home: Path, url: str, ttl: float = LINK_SECONDS) -> str:
    """A one-time sign-in link to the console at ``url`` (the console's own origin)."""
    nonce, expires = secrets.token_hex(16), str(int(time.time() + ttl))
    token = f"{nonce}.{expires}.{_sign(console_key(home), 'link', nonce + '.' + expires)}"
    return f"{url}{CONSOLE_PATH}/sign-in/link?token={token}"


class Sessions:
    """Sign-in checks and the durable session rows."""

    def __init__(self, db: Database, home: Path, credentials: Credentials) -> None:
        self.db, self.credentials = db, credentials
        self.key = console_key(home)

    # --- signing in and out ---------------------------------------------------------------

    def sign_in(self, access_key_id: str, secret: str) -> tuple[Session, str]:
        """A new session for cove's access key pair; returns it and its cookie value."""
        good_id = hmac.compare_digest(access_key_id.encode(),
                                      self.credentials.access_key_id.encode())
        good_secret = hmac.compare_digest(secret.encode(),
                                          self.credentials.secret_access_key.encode())
        if not (good_id and good_secret):
            raise SignInFailed("The access key id or secret is not right: use the pair "
                               "cove env prints (or a link from cove ui).")
        return self._open()

    def redeem(self, token: str) -> tuple[Session, str]:
        """A new session for a one-time link's token; each token works once."""
        nonce, _, rest = token.partition(".")
        expires, _, signature = rest.partition(".")
        expected = _sign(self.key, "link", f"{nonce}.{expires}")
        if not (nonce and expires.isdigit() and hmac.compare_digest(signature, expected)):
            raise SignInFailed("This sign-in link is not valid: run cove ui for a new one.")
        if float(expires) < time.time():
            raise SignInFailed("This sign-in link has expired: run cove ui for a new one.")
        try:
            with self.db.write() as conn:
                conn.execute(insert(console_used_links).values(nonce=nonce,
                                                               expires=float(expires)))
        except IntegrityError as exc:
            raise SignInFailed("This sign-in link was already used: run cove ui for a new "
                               "one.") from exc
        return self._open()

    def sign_out(self, session: Session) -> None:
        with self.db.write() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.id == session.id))

    def _open(self) -> tuple[Session, str]:
        now = time.time()
        session = Session(secrets.token_hex(16), secrets.token_hex(16), now + SESSION_SECONDS)
        with self.db.write() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.expires < now))
            conn.execute(delete(console_used_links).where(console_used_links.c.expires < now))
            conn.execute(insert(console_sessions).values(
                id=session.id, csrf=session.csrf, created=now, expires=session.expires))
        return session, f"{session.id}.{_sign(self.key, 'session', session.id)}"

    # --- checking requests ------------------------------------------------------------------

    def current(self, request: Request) -> Session | None:
        """The request's live session, if its cookie names one."""
        session_id = self._signed_session_id(request.headers.get("cookie", ""))
        if session_id is None:
            return None
        with self.db.read() as conn:
            row = conn.execute(select(console_sessions).where(
                console_sessions.c.id == session_id)).first()
        if row is None or row.expires < time.time():
            return None
        return Session(row.id, row.csrf, row.expires)

    def _signed_session_id(self, cookie_header: str) -> str | None:
        """The first session cookie cove signed.  Cookies ignore ports: a page on another
        port of this host may have planted more cookies of this name (under a longer path, so
        the browser sends them first); they are passed over, never a reason to sign out."""
        for piece in cookie_header.split(";"):
            name, _, value = piece.strip().partition("=")
            session_id, _, signature = value.partition(".")
            if name == COOKIE and session_id and hmac.compare_digest(
                    signature, _sign(self.key, "session", session_id)):
                return session_id
        return None

    @staticmethod
    def check_origin(request: Request) -> None:
        """Refuse a state-changing request sent by a page of another site."""
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
            raise Forbidden(f"Cross-site request refused (Origin {origin}).")
        if request.headers.get("sec-fetch-site") == "cross-site":
            raise Forbidden("Cross-site request refused.")

    def check_csrf(self, request: Request, session: Session, submitted: str) -> None:
        self.check_origin(request)
        token = request.headers.get("x-csrf-token") or submitted
        if not token or not hmac.compare_digest(token, session.csrf):
            raise Forbidden("The request lacks this session's CSRF token: reload the page and "
                            "try again.")

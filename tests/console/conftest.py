"""Signing in to a test server's console over plain HTTP."""

from __future__ import annotations

import re

import requests

from tests.conftest import CoveServer


def signed_in(server: CoveServer) -> tuple[requests.Session, str]:
    """A requests session signed in to ``server``'s console, and its CSRF token."""
    session = requests.Session()
    c = server.credentials
    answer = session.post(f"{server.console_url}/ui/sign-in", data={
        "access_key_id": c["access_key_id"], "secret_access_key": c["secret_access_key"]},
        timeout=30)
    assert answer.status_code == 200 and answer.url.endswith("/ui/"), answer.text[:300]
    return session, csrf_of(answer.text)


def csrf_of(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', html)
    assert found, html[:500]
    return found.group(1)

"""Fixtures for the object store's own tests (those that need no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cove.meta import Database
from cove.objects import LocalObjectStore


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    """A store of the test's own, with one bucket, ``cached``."""
    db = Database(f"sqlite:///{tmp_path / 'cove.db'}", migrate=True)
    store = LocalObjectStore(db, tmp_path / "objects")
    store.create_bucket("cached", "us-east-1")
    return store

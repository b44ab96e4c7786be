"""Every ObjectStore implementation against the one conformance suite
(:mod:`tests.objects.store_conformance`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from cove.meta import Database
from cove.objects import LocalObjectStore, ObjectStore
from cove.objects._blobs import WrittenBlob
from tests.objects.store_conformance import Harness, ObjectStoreConformance


class LocalHarness:
    """Blobs on this machine's disk, the key index in a SQLite metadata database."""

    name = "local"

    def open(self, place: Path) -> ObjectStore:
        db = Database(f"sqlite:///{place / 'cove.db'}", migrate=True)
        return LocalObjectStore(db, place / "objects")

    def blob(self, store: ObjectStore, data: bytes) -> WrittenBlob:
        return cast(LocalObjectStore, store).blobs.write_whole(data)

    def close(self, store: ObjectStore) -> None:
        cast(LocalObjectStore, store).db.close()


#: One entry per backend; the next (an external S3-compatible store) adds its harness here.
HARNESSES: list[Harness] = [LocalHarness()]


class TestObjectStore(ObjectStoreConformance):
    @pytest.fixture(params=HARNESSES, ids=lambda h: h.name)
    def harness(self, request: Any) -> Harness:
        return cast(Harness, request.param)


def test_the_local_store_is_an_object_store() -> None:
    """Type-checked as the interface, not only duck-typed by the suite."""
    store: ObjectStore = LocalObjectStore.__new__(LocalObjectStore)
    assert isinstance(store, LocalObjectStore)

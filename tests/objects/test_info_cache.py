"""The object metadata cache: a PUT leaves its object cached (a GET right after needs no
transaction), exactly as a read of the index would find it, and never over a newer write."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pytest
from sqlalchemy import and_, select

from cove.meta.tables import objects
from cove.objects import Checksum, LocalObjectStore, ObjectAttributes
from cove.objects._store import _info_from_row


def _put(store: LocalObjectStore, key: str, data: bytes) -> Any:
    blob = store.blobs.write_whole(data, ["CRC32"])
    return store.put_object("cached", key, blob, ObjectAttributes(
        "text/plain", {"Cache-Control": "no-cache"}, {"owner": "ünï"}),
        Checksum("CRC32", blob.checksums["CRC32"], "FULL_OBJECT"))


def _from_index(store: LocalObjectStore, key: str) -> Any:
    with store.db.read() as conn:
        row = conn.execute(select(objects).where(and_(
            objects.c.bucket == "cached", objects.c.key == key))).first()
    return _info_from_row(row)


def test_a_put_leaves_its_object_cached_as_the_index_has_it(store: LocalObjectStore) -> None:
    written = _put(store, "k", os.urandom(3000))
    cached, _ = store._infos.get("cached", "k")
    assert cached == written == _from_index(store, "k")
    assert store.head_object("cached", "k") is cached


def test_a_write_forgotten_meanwhile_keeps_the_put_out(store: LocalObjectStore,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer's forget between this PUT's transaction and its own (which may be of a
    later commit to the same key) means the PUT's object may be stale: not cached."""
    run = store.commits.run

    def run_then_other_writer(work: Any) -> Any:
        result = run(work)
        store._infos.forget("cached", "k")  # e.g. a DELETE that committed right after
        return result

    monkeypatch.setattr(store.commits, "run", run_then_other_writer)
    _put(store, "k", b"first")
    assert store._infos.get("cached", "k")[0] is None


def test_a_refused_put_caches_nothing(store: LocalObjectStore) -> None:
    _put(store, "k", b"old")
    store._infos.forget("cached", "k")
    blob = store.blobs.write_whole(b"new", [])
    info = dataclasses.replace(_from_index(store, "k"), bucket="gone")
    with pytest.raises(Exception, match="bucket does not exist"):
        store.publish(dataclasses.replace(info, parts=((blob.blob_id, 3),)), [blob.blob_id])
    assert store._infos.get("gone", "k")[0] is None
    assert store.head_object("cached", "k").size == 3


def test_a_multi_delete_forgets_every_key_it_deleted(store: LocalObjectStore) -> None:
    infos = [_put(store, f"k{n}", b"v" * n) for n in range(5)]
    assert store.delete_objects("cached", [(f"k{n}", None) for n in range(5)]) == [None] * 5
    store.blobs.settle()
    for info in infos:
        assert store._infos.get("cached", info.key)[0] is None
        assert not store.blobs.path(info.parts[0][0]).exists()  # freed once settled
    assert store.list_objects("cached").objects == []


def test_a_replaced_objects_bytes_are_freed(store: LocalObjectStore) -> None:
    old = _put(store, "k", b"old")
    new = _put(store, "k", b"new")
    store.blobs.settle()
    assert not store.blobs.path(old.parts[0][0]).exists()
    assert store.blobs.path(new.parts[0][0]).read_bytes() == b"new"
    assert store.head_object("cached", "k") == new

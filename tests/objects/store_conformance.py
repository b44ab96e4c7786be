"""The conformance suite of the object store's swap point (:class:`cove.objects.ObjectStore`).

Every backend passes the same tests: the S3 semantics the interface promises (errors that change
nothing, ``a`` beside ``a/b``, listing with prefix/delimiter/marker in key order, conditional
writes, copies independent of their source, ranges) and durability (a store opened again on the
same place has everything it acknowledged).

To point the suite at another backend (the next will be an external S3-compatible store), write
a :class:`Harness` for it and add it to ``HARNESSES`` in ``test_store_conformance.py`` (or
subclass :class:`ObjectStoreConformance` with a ``harness`` fixture of your own).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from cove import errors
from cove.objects import Checksum, ObjectAttributes, ObjectInfo, ObjectStore
from cove.objects._base import WriteCondition
from cove.objects._blobs import WrittenBlob

REGION = "us-east-1"


class Harness(Protocol):
    """How the suite makes, feeds and reopens one backend."""

    name: str

    def open(self, place: Path) -> ObjectStore:
        """A store whose state lives at ``place`` (opening it again there sees the same)."""
        ...

    def blob(self, store: ObjectStore, data: bytes) -> WrittenBlob:
        """``data`` made durable as the store's bytes, ready for ``put_object``."""
        ...

    def close(self, store: ObjectStore) -> None: ...


class ObjectStoreConformance:
    """Subclass with a ``harness`` fixture; every test gets a fresh store."""

    @pytest.fixture
    def store(self, harness: Harness, tmp_path: Path) -> Iterator[ObjectStore]:
        store = harness.open(tmp_path / "store")
        yield store
        harness.close(store)

    @staticmethod
    def put(harness: Harness, store: ObjectStore, bucket: str, key: str, data: bytes,
            content_type: str = "text/plain", condition: WriteCondition | None = None,
            **metadata: str) -> ObjectInfo:
        attributes = ObjectAttributes(content_type, user_metadata=dict(metadata))
        if condition is None:
            return store.put_object(bucket, key, harness.blob(store, data), attributes,
                                    Checksum())
        return store.put_object(bucket, key, harness.blob(store, data), attributes,
                                Checksum(), condition)

    @staticmethod
    def read(store: ObjectStore, bucket: str, key: str, start: int = 0,
             length: int | None = None) -> bytes:
        info = store.head_object(bucket, key)
        return b"".join(store.iter_range(info, start, info.size if length is None else length))

    # --- buckets ----------------------------------------------------------------------------

    def test_buckets_are_created_listed_and_deleted(self, store: ObjectStore) -> None:
        made = store.create_bucket("b1", REGION)
        store.create_bucket("b0", REGION)
        assert (made.name, made.region) == ("b1", REGION)
        assert store.get_bucket("b1").name == "b1"
        assert [b.name for b in store.list_buckets()] == ["b0", "b1"]
        # us-east-1 answers 200 to re-creating a bucket you own (S3's legacy rule); elsewhere
        # it is BucketAlreadyOwnedByYou
        assert store.create_bucket("b1", REGION).created == made.created
        store.create_bucket("eu", "eu-west-1")
        with pytest.raises(errors.BucketAlreadyOwnedByYou):
            store.create_bucket("eu", "eu-west-1")
        assert [b.name for b in store.list_buckets()] == ["b0", "b1", "eu"]
        store.delete_bucket("b1")
        with pytest.raises(errors.NoSuchBucket):
            store.get_bucket("b1")
        with pytest.raises(errors.NoSuchBucket):
            store.delete_bucket("b1")

    def test_a_bucket_with_objects_is_not_deleted(self, harness: Harness,
                                                  store: ObjectStore) -> None:
        store.create_bucket("full", REGION)
        self.put(harness, store, "full", "k", b"v")
        with pytest.raises(errors.BucketNotEmpty):
            store.delete_bucket("full")
        assert self.read(store, "full", "k") == b"v"  # nothing changed

    # --- objects ----------------------------------------------------------------------------

    def test_an_object_reads_back_with_its_attributes(self, harness: Harness,
                                                      store: ObjectStore) -> None:
        store.create_bucket("b", REGION)
        data = bytes(range(256)) * 40
        info = self.put(harness, store, "b", "dir/obj.bin", data, "application/x-test",
                        owner="me")
        head = store.head_object("b", "dir/obj.bin")
        assert head.size == info.size == len(data)
        assert head.etag == info.etag == f'"{hashlib.md5(data).hexdigest()}"'
        assert head.attributes.content_type == "application/x-test"
        assert head.attributes.user_metadata == {"owner": "me"}
        assert self.read(store, "b", "dir/obj.bin") == data
        assert self.read(store, "b", "dir/obj.bin", 1000, 2000) == data[1000:3000]
        assert self.read(store, "b", "dir/obj.bin", len(data) - 1, 1) == data[-1:]

    def test_an_empty_object(self, harness: Harness, store: ObjectStore) -> None:
        store.create_bucket("b", REGION)
        info = self.put(harness, store, "b", "empty", b"")
        assert info.size == 0 and self.read(store, "b", "empty") == b""

    def test_a_key_and_a_key_below_it_coexist(self, harness: Harness,
                                              store: ObjectStore) -> None:
        store.create_bucket("b", REGION)
        self.put(harness, store, "b", "a", b"file")
        self.put(harness, store, "b", "a/b", b"below")
        assert self.read(store, "b", "a") == b"file"
        assert self.read(store, "b", "a/b") == b"below"

    def test_a_put_replaces_and_a_delete_removes(self, harness: Harness,
                                                 store: ObjectStore) -> None:
        store.create_bucket("b", REGION)
        self.put(harness, store, "b", "k", b"old")
        self.put(harness, store, "b", "k", b"new!")
        assert self.read(store, "b", "k") == b"new!"
        assert store.head_object("b", "k").size == 4
        store.delete_object("b", "k")
        with pytest.raises(errors.NoSuchKey):
            store.head_object("b", "k")
        store.delete_object("b", "k")  # deleting what is not there is not an error (S3)

    def test_a_missing_bucket_or_key_is_the_s3_error_and_changes_nothing(
            self, harness: Harness, store: ObjectStore) -> None:
        with pytest.raises(errors.NoSuchBucket):
            self.put(harness, store, "nowhere", "k", b"v")
        with pytest.raises(errors.NoSuchBucket):
            store.head_object("nowhere", "k")
        with pytest.raises(errors.NoSuchBucket):
            store.list_objects("nowhere")
        with pytest.raises(errors.NoSuchBucket):
            store.delete_object("nowhere", "k")
        assert store.list_buckets() == []
        store.create_bucket("b", REGION)
        with pytest.raises(errors.NoSuchKey):
            store.head_object("b", "missing")
        assert store.list_objects("b").objects == []

    def test_a_copy_is_independent_of_its_source(self, harness: Harness,
                                                 store: ObjectStore) -> None:
        store.create_bucket("b", REGION)
        store.create_bucket("c", REGION)
        source = self.put(harness, store, "b", "src", b"payload")
        copied = store.copy_object(source, "c", "dst", ObjectAttributes("image/png"))
        assert copied.etag == source.etag and copied.size == source.size
        assert store.head_object("c", "dst").attributes.content_type == "image/png"
        store.delete_object("b", "src")
        assert self.read(store, "c", "dst") == b"payload"
        self.put(harness, store, "c", "dst", b"changed")
        with pytest.raises(errors.NoSuchKey):
            store.head_object("b", "src")

    # --- conditional writes -----------------------------------------------------------------

    def test_conditional_writes(self, harness: Harness, store: ObjectStore) -> None:
        store.create_bucket("b", REGION)
        first = self.put(harness, store, "b", "k", b"one", condition=WriteCondition(
            if_none_match="*"))
        with pytest.raises(errors.PreconditionFailed):
            self.put(harness, store, "b", "k", b"two", condition=WriteCondition(
                if_none_match="*"))
        with pytest.raises(errors.PreconditionFailed):
            self.put(harness, store, "b", "k", b"two", condition=WriteCondition(
                if_match='"0123456789abcdef0123456789abcdef"'))
        assert self.read(store, "b", "k") == b"one"  # the refused writes changed nothing
        self.put(harness, store, "b", "k", b"three", condition=WriteCondition(
            if_match=first.etag))
        assert self.read(store, "b", "k") == b"three"
        with pytest.raises(errors.NoSuchKey):
            self.put(harness, store, "b", "absent", b"x", condition=WriteCondition(
                if_match=first.etag))

    # --- listing ----------------------------------------------------------------------------

    def test_listing_in_key_order_with_prefix_and_delimiter(self, harness: Harness,
                                                            store: ObjectStore) -> None:
        store.create_bucket("b", REGION)
        keys = ["a", "a/b", "a/c/d", "a/c/e", "b/x", "b2", "z", "é"]  # UTF-8 byte order
        for key in reversed(keys):
            self.put(harness, store, "b", key, key.encode())
        whole = store.list_objects("b")
        assert [o.key for o in whole.objects] == keys and not whole.is_truncated
        under = store.list_objects("b", prefix="a/")
        assert [o.key for o in under.objects] == ["a/b", "a/c/d", "a/c/e"]
        rolled = store.list_objects("b", delimiter="/")
        assert [o.key for o in rolled.objects] == ["a", "b2", "z", "é"]
        assert rolled.common_prefixes == ["a/", "b/"]
        nested = store.list_objects("b", prefix="a/", delimiter="/")
        assert [o.key for o in nested.objects] == ["a/b"]
        assert nested.common_prefixes == ["a/c/"]

    def test_listing_pages_by_marker(self, harness: Harness, store: ObjectStore) -> None:
        store.create_bucket("b", REGION)
        keys = [f"k{n:03d}" for n in range(25)]
        for key in keys:
            self.put(harness, store, "b", key, b".")
        seen, marker, pages = [], "", 0
        while True:
            page = store.list_objects("b", marker=marker, max_keys=10)
            seen += [o.key for o in page.objects]
            pages += 1
            if not page.is_truncated:
                break
            marker = page.next_marker
            assert marker == seen[-1]
        assert seen == keys and pages == 3
        assert store.list_objects("b", max_keys=0).objects == []

    # --- durability -------------------------------------------------------------------------

    def test_a_store_opened_again_has_everything_it_acknowledged(
            self, harness: Harness, tmp_path: Path) -> None:
        place = tmp_path / "durable"
        store = harness.open(place)
        store.create_bucket("b", REGION)
        self.put(harness, store, "b", "kept", b"acknowledged", owner="x")
        self.put(harness, store, "b", "gone", b"deleted")
        store.delete_object("b", "gone")
        harness.close(store)
        again = harness.open(place)
        try:
            assert [b.name for b in again.list_buckets()] == ["b"]
            assert self.read(again, "b", "kept") == b"acknowledged"
            assert again.head_object("b", "kept").attributes.user_metadata == {"owner": "x"}
            assert [o.key for o in again.list_objects("b").objects] == ["kept"]
        finally:
            harness.close(again)

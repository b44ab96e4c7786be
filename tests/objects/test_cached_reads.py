"""A GET answered without leaving the event loop: the object's metadata from the store's cache
and its bytes from the page cache, read so as never to wait for the disk (RWF_NOWAIT).  When
either is not cached, a worker thread does the read, and the answer is the same."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from cove.objects import Checksum, LocalObjectStore, ObjectAttributes
from cove.objects._s3object_api import INLINE_READ, _cached_head_and_read


def _put(store: LocalObjectStore, key: str, data: bytes) -> Any:
    blob = store.blobs.write_whole(data)
    return store.put_object("cached", key, blob, ObjectAttributes("text/plain", {}, {}),
                            Checksum())


def _evict(path: Path) -> bool:
    """Drop a file's pages from the page cache; False where the filesystem keeps them (tmpfs
    has no other copy of them)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.preadv(fd, [bytearray(1)], 0, os.RWF_NOWAIT)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def test_a_cached_object_is_read_on_the_loop_and_an_evicted_one_is_not(
        store: LocalObjectStore) -> None:
    data = os.urandom(300_000)
    info = _put(store, "k", data)
    store.versioning("cached")  # as a GET's thread leaves it (the answer needs it)
    store.read(info, 0, info.size)  # the page cache holds the bytes now
    found = _cached_head_and_read(store, "cached", "k", inline=True)
    assert found is not None
    assert found[0] == info and bytes(found[1] or b"") == data
    path = store.blobs.path(info.parts[0][0])
    if not _evict(path):
        pytest.skip(f"{path.parent} keeps its pages in memory: nothing to evict")
    assert _cached_head_and_read(store, "cached", "k", inline=True) is None
    assert store.read(info, 0, info.size) == data  # what the worker thread then reads


def test_only_what_is_cached_is_taken_on_the_loop(store: LocalObjectStore) -> None:
    info = _put(store, "k", b"x" * 10)
    store.read(info, 0, info.size)
    assert _cached_head_and_read(store, "cached", "k", inline=True) == (info, b"x" * 10)
    store._forget_settings("cached")  # as a change of the bucket's settings does
    assert _cached_head_and_read(store, "cached", "k", inline=True) is None
    store.versioning("cached")
    assert _cached_head_and_read(store, "cached", "missing", inline=True) is None
    # a HEAD (or a part) needs no bytes; a large object is streamed from a thread
    assert _cached_head_and_read(store, "cached", "k", inline=False) == (info, None)
    big = _put(store, "big", b"y" * (INLINE_READ + 1))
    assert _cached_head_and_read(store, "cached", "big", inline=True) == (big, None)
    store._infos.forget("cached", "k")  # as every write of the key does
    assert _cached_head_and_read(store, "cached", "k", inline=True) is None


def test_a_blob_gone_from_under_the_cache_is_left_to_the_thread(
        store: LocalObjectStore) -> None:
    info = _put(store, "k", b"z" * 1000)
    store.versioning("cached")
    store.blobs.delete([info.parts[0][0]])
    assert store.blobs.read_cached(info.parts[0][0], info.size) is None
    assert _cached_head_and_read(store, "cached", "k", inline=True) is None


def test_gets_read_the_same_bytes_from_the_page_cache_and_from_the_disk(
        cove: Any, bucket: str) -> None:
    s3 = cove.client("s3")
    bodies = {f"k{n}": os.urandom(size) for n, size in enumerate([0, 1, 4096, 1 << 20])}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    for key, body in bodies.items():  # after the PUT: in the metadata cache
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        if len(body) > 1:
            ranged = s3.get_object(Bucket=bucket, Key=key, Range="bytes=1-")["Body"].read()
            assert ranged == body[1:]
    for blob in (cove.home / "objects" / "blobs").rglob("*"):
        if blob.is_file():
            _evict(blob)
    for key, body in bodies.items():  # from the disk, by a worker thread
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)

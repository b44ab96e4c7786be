"""Blobs written whole (a PUT's or a part's body): O_DIRECT where the filesystem takes it, the
page cache where it does not, the same bytes and digests either way."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cove.objects import _blobs
from cove.objects._blobs import DIRECT_ALIGN, BlobStore, BlobWriter

# sizes around the alignment the O_DIRECT write pads to, and a body larger than its buffer
SIZES = [1, DIRECT_ALIGN - 1, DIRECT_ALIGN, DIRECT_ALIGN + 1, (1 << 20) + 3,
         _blobs.DIRECT_BUFFER + 1]


@pytest.fixture
def hash_pool() -> Any:
    with ThreadPoolExecutor(2) as pool:
        yield pool


def _check(store: BlobStore, data: bytes, blob: Any) -> None:
    assert store.path(blob.blob_id).read_bytes() == data
    assert blob.size == len(data)
    assert blob.md5 == hashlib.md5(data).digest()
    assert blob.sha256_hex == hashlib.sha256(data).hexdigest()


def _count_direct(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    outcomes: list[bool] = []
    original = BlobWriter.write_direct

    def spy(self: BlobWriter, data: bytes, buffer: Any) -> bool:
        outcomes.append(original(self, data, buffer))
        return outcomes[-1]

    monkeypatch.setattr(BlobWriter, "write_direct", spy)
    return outcomes


@pytest.mark.parametrize("size", SIZES)
def test_whole_blob_has_exactly_its_bytes(tmp_path: Path, hash_pool: Any, size: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store = BlobStore(tmp_path / "blobs")
    outcomes = _count_direct(monkeypatch)
    data = os.urandom(size)
    _check(store, data, store.write_whole(data, ["CRC32"], sha256=True, hash_pool=hash_pool))
    if store.direct is not None and size <= _blobs.DIRECT_BUFFER:
        assert outcomes == [True], "a body that fits the buffer goes the O_DIRECT way"
    if size > _blobs.DIRECT_BUFFER:
        assert outcomes == [], "a body larger than the buffer goes through the page cache"


def test_a_filesystem_without_o_direct_gets_the_page_cache(
        tmp_path: Path, hash_pool: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open
    refused: list[str] = []

    def open_without_direct(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & _blobs.O_DIRECT:
            refused.append(str(path))
            raise OSError(errno.EINVAL, "O_DIRECT not supported")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(_blobs, "O_DIRECT", os.O_DIRECT if hasattr(os, "O_DIRECT") else 0x4000)
    monkeypatch.setattr(os, "open", open_without_direct)
    store = BlobStore(tmp_path / "blobs")
    for size in (5000, 70_000):
        data = os.urandom(size)
        _check(store, data, store.write_whole(data, (), sha256=True, hash_pool=hash_pool))
    assert len(refused) == 1, "refused once, then the store stops asking"
    assert store.direct is None


def test_more_writes_at_once_than_buffers(tmp_path: Path, hash_pool: Any) -> None:
    store = BlobStore(tmp_path / "blobs")
    bodies = [os.urandom(100_000 + i) for i in range(6 * _blobs.DIRECT_BUFFERS)]
    gate = threading.Barrier(len(bodies))
    blobs: dict[int, Any] = {}

    def put(i: int) -> None:
        gate.wait(30)
        blobs[i] = store.write_whole(bodies[i], (), sha256=True, hash_pool=hash_pool)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for i, data in enumerate(bodies):
        _check(store, data, blobs[i])
    if store.direct is not None:  # every buffer came back; only the kept ones stay mapped
        assert len(store.direct._free) <= _blobs.DIRECT_BUFFERS
        assert store.direct._left == 4 * _blobs.DIRECT_BUFFERS - len(store.direct._free)


def test_a_failed_direct_write_leaves_no_blob(tmp_path: Path, hash_pool: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    store = BlobStore(tmp_path / "blobs")

    def full_disk(fd: int, data: Any, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full_disk)
    monkeypatch.setattr(BlobWriter, "write_file", lambda self, data: full_disk(0, data, 0))
    with pytest.raises(OSError, match="No space"):
        store.write_whole(os.urandom(10_000), (), hash_pool=hash_pool)
    assert not [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]


@pytest.mark.parametrize("direct", [True, False], ids=["o_direct", "page_cache"])
def test_the_blob_is_synced_before_its_row_commits(tmp_path: Path, hash_pool: Any, direct: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from cove.meta import Database
    from cove.objects import Checksum, LocalObjectStore, ObjectAttributes

    store = LocalObjectStore(Database(f"sqlite:///{tmp_path / 'cove.db'}", migrate=True),
                             tmp_path / "objects")
    store.create_bucket("synced", "us-east-1")
    if not direct:
        store.blobs.direct = None
    events: list[str] = []
    real_sync, real_run = os.fdatasync, store.commits.run

    def sync(fd: int) -> None:
        real_sync(fd)
        events.append("sync " + os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))

    def run(work: Any) -> Any:
        events.append("commit")
        return real_run(work)

    monkeypatch.setattr(os, "fdatasync", sync)
    monkeypatch.setattr(store.commits, "run", run)
    blob = store.blobs.write_whole(os.urandom(70_000), (), hash_pool=hash_pool)
    store.put_object("synced", "k", blob, ObjectAttributes("text/plain", {}, {}), Checksum())
    assert events == [f"sync {blob.blob_id}", "commit"]


def _cached(path: Path) -> bool:
    """Whether the file's first page is in the page cache (a read that may not wait for IO)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.preadv(fd, [bytearray(4096)], 0, os.RWF_NOWAIT) > 0
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


@pytest.mark.skipif(not hasattr(os, "RWF_NOWAIT"), reason="needs preadv2(RWF_NOWAIT)")
def test_a_put_warms_the_page_cache_for_the_read_that_follows(
        tmp_path: Path, hash_pool: Any) -> None:
    """A body written with O_DIRECT is not in the page cache; after the PUT's answer the
    kernel is asked to read it in, so a GET right after does not wait for the disk."""
    import time

    from cove.objects._s3object_api import _write_small

    store = BlobStore(tmp_path / "blobs")
    blob = _write_small(store, os.urandom(300_000), (), False, lambda b: None, lambda b: b)
    if not blob.direct:
        pytest.skip("this filesystem does not do O_DIRECT")
    path = store.path(blob.blob_id)
    deadline = time.monotonic() + 30
    while not _cached(path):
        assert time.monotonic() < deadline, "the blob never reached the page cache"
        time.sleep(0.01)
    assert path.stat().st_size == 300_000


def test_warming_a_deleted_blob_is_harmless(tmp_path: Path, hash_pool: Any) -> None:
    store = BlobStore(tmp_path / "blobs")
    blob = store.write_whole(b"x" * 5000, (), hash_pool=hash_pool)
    store.delete([blob.blob_id])
    store.warm(blob.blob_id)


def test_aligned_buffers_are_bounded_and_only_a_few_are_kept() -> None:
    pool = _blobs._AlignedBuffers(size=64 * 1024, keep=2, most=5)
    taken = [pool.take(1000) for _ in range(5)]
    assert all(b is not None for b in taken)
    assert pool.take(1000) is None, "no more than `most` at once: the page cache takes over"
    assert pool.take(64 * 1024 + 1) is None, "a body larger than a buffer"
    for buffer in taken:
        assert buffer is not None
        pool.give(buffer)
    assert len(pool._free) == 2
    assert sum(b.closed for b in taken) == 3, "the extra buffers are unmapped"
    assert pool.take(1000) is taken[1]

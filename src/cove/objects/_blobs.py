"""Blobs: the bytes of objects and parts, one file each, named by a random id.

A blob is written in place under its final, never-reused name and made durable (fdatasync: its
bytes, its size and where its blocks are) before the metadata row that references it commits;
until then no listing or read can reach it, so a crash leaves at most an unreferenced file, which
:meth:`BlobStore.sweep` removes at the next start.  Keys are never file names: nothing a client
sends becomes a path.

A body read whole (a PUT, a part) is written with O_DIRECT where the filesystem takes it: the
bytes go from one reused, page-aligned buffer straight to the disk, instead of into freshly
allocated page-cache pages that the fdatasync then writes out.  That is most of a PUT's write
cost (on a VM, 1 MiB of new page-cache pages costs ~2 ms of CPU; an O_DIRECT write ~0.2 ms).
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import logging
import mmap
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from cove.objects._checksums import Hasher, encode, new_hasher

log = logging.getLogger("cove.objects")

READ_CHUNK = 1 << 20
#: Linux's flag for writes that bypass the page cache (0 where the platform has none).
O_DIRECT: int = getattr(os, "O_DIRECT", 0)
#: What an O_DIRECT write's address, offset and length are multiples of (the largest logical
#: block size in use; 512-byte devices accept it too).
DIRECT_ALIGN = 4096
DIRECT_BUFFER = 8 << 20  # the largest body written with O_DIRECT (the S3 adapter's SMALL_BODY)
DIRECT_BUFFERS = 4  # kept for reuse (at most four times as many exist at once)
#: preadv's flag for "only what the page cache holds, never wait for the disk" (0: none here).
_NOWAIT: int = getattr(os, "RWF_NOWAIT", 0)
#: What open/write answer for O_DIRECT on a filesystem without it (tmpfs, some FUSE).
_NO_DIRECT = (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP)


@dataclass(frozen=True)
class WrittenBlob:
    blob_id: str
    size: int
    md5: bytes
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm -> base64 value
    sha256_hex: str = ""  # when the writer was asked for it (the signed payload hash)
    direct: bool = False  # written around the page cache (O_DIRECT): see BlobStore.warm


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._shards: set[str] = set()  # shard directories known to exist (never removed)
        self.direct = _AlignedBuffers() if O_DIRECT else None  # None: the page cache only
        self._freeing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cove-free")

    def shard(self, blob_id: str) -> Path:
        """The directory of ``blob_id``'s file, created the first time it is needed."""
        directory = self.root / blob_id[:2]
        if blob_id[:2] not in self._shards:
            directory.mkdir(exist_ok=True)
            self._shards.add(blob_id[:2])
        return directory

    def path(self, blob_id: str) -> Path:
        return self.root / blob_id[:2] / blob_id

    def writer(self, checksum_algorithms: Iterable[str] = (), sha256: bool = False) -> BlobWriter:
        return BlobWriter(self, uuid.uuid4().hex, checksum_algorithms, sha256)

    def write_whole(self, data: bytes, checksum_algorithms: Iterable[str] = (),
                    sha256: bool = False, hash_pool: Executor | None = None) -> WrittenBlob:
        """A small body as one durable blob in one call; nothing is left behind if it fails.

        With ``hash_pool``, the digests are computed there (MD5 in one thread, the rest in
        another: hashlib and zlib release the GIL) while this thread writes and fsyncs, so a
        PUT costs the longest of the three instead of their sum.
        """
        writer = self.writer(checksum_algorithms, sha256)
        try:
            if hash_pool is None:
                writer.write(data)
                return writer.finish()
            digests = [hash_pool.submit(lane, data) for lane in writer.hash_lanes]
            try:
                direct = self._write_durably(writer, data)
            finally:
                for digest in digests:
                    digest.result()
            return dataclasses.replace(writer.finish(), direct=direct)
        except BaseException:
            writer.discard()
            raise

    def _write_durably(self, writer: BlobWriter, data: bytes) -> bool:
        """Write the whole blob and make it durable: with O_DIRECT when possible (True)."""
        buffer = self.direct.take(len(data)) if self.direct is not None and data else None
        if buffer is not None:
            try:
                if writer.write_direct(data, buffer):
                    return True
                self.direct = None  # this filesystem refuses O_DIRECT: stop asking
            finally:
                if self.direct is not None:
                    self.direct.give(buffer)
        writer.write_file(data)
        writer.sync()
        return False

    def warm(self, blob_id: str) -> None:
        """Ask the kernel to read a blob written with O_DIRECT into the page cache, in the
        background (the read that follows a write is common: a GET, a job's input).  Reading
        it back costs far less CPU than the buffered write would have, and it is done after
        the writer has its answer; a blob deleted meanwhile is skipped."""
        try:
            fd = os.open(self.path(blob_id), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError as exc:  # only a hint: the read goes to the disk instead
            log.debug("readahead of blob %s refused: %s", blob_id, exc)
        finally:
            os.close(fd)

    def read(self, blob_id: str, offset: int, length: int) -> bytes:
        with open(self.path(blob_id), "rb") as f:
            f.seek(offset)
            return f.read(length)

    def read_cached(self, blob_id: str, length: int) -> memoryview | None:
        """The blob's ``length`` bytes if the page cache holds them all, read without waiting
        for the disk (``RWF_NOWAIT``); None if any is not cached (or the blob is gone, or the
        platform cannot read that way): the caller then reads from a worker thread.

        Meant for the event loop.  What it still does there that could touch the disk is the
        ``open``: the kernel answers it from its caches when the blob was written or read
        lately, as the caller's metadata cache hit suggests; after a restart a HEAD alone fills
        that cache, and the first GET may then read a directory block here."""
        if not _NOWAIT:
            return None
        try:
            fd = os.open(self.path(blob_id), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            buffer = bytearray(length)
            got = os.preadv(fd, [buffer], 0, _NOWAIT) if length else 0
        except OSError:  # EAGAIN (BlockingIOError): not a byte of it is cached
            return None
        finally:
            os.close(fd)
        return memoryview(buffer) if got == length else None

    def iter_range(self, blob_id: str, offset: int, length: int) -> Iterator[bytes]:
        with open(self.path(blob_id), "rb") as f:
            f.seek(offset)
            while length > 0:
                chunk = f.read(min(READ_CHUNK, length))
                if not chunk:
                    raise OSError(f"blob {blob_id} is shorter than its index says")
                length -= len(chunk)
                yield chunk

    def link(self, blob_id: str) -> str:
        """A new blob with the same bytes, sharing storage (a hard link): copies move nothing."""
        new_id = uuid.uuid4().hex
        target = self.shard(new_id) / new_id
        os.link(self.path(blob_id), target)
        return new_id

    def delete(self, blob_ids: Iterable[str]) -> None:
        for blob_id in blob_ids:
            self.path(blob_id).unlink(missing_ok=True)

    def free(self, blob_ids: Iterable[str]) -> None:
        """Delete, off the request's path, blobs a commit has just made unreachable (replaced,
        deleted): no new read can find them, a read that already has one keeps its open file,
        and a crash before they go leaves files :meth:`sweep` removes at the next start."""
        doomed = list(blob_ids)
        if doomed:
            self._freeing.submit(self._free, doomed)

    def _free(self, blob_ids: list[str]) -> None:
        try:
            self.delete(blob_ids)
        except OSError as exc:  # the next start's sweep takes what is left
            log.warning("could not delete %d unreferenced blob(s): %s", len(blob_ids), exc)

    def settle(self) -> None:
        """Wait until every blob :meth:`free` was given so far is gone."""
        self._freeing.submit(lambda: None).result()

    def sweep(self, referenced: set[str]) -> int:
        """Delete blob files no metadata row references (left by a crash); returns how many."""
        removed = 0
        for shard in self.root.iterdir():
            if not shard.is_dir():
                continue
            for blob in shard.iterdir():
                if blob.name not in referenced:
                    blob.unlink(missing_ok=True)
                    removed += 1
        return removed


class BlobWriter:
    """Writes one blob while hashing it (MD5 for the ETag, plus the requested checksums)."""

    def __init__(self, store: BlobStore, blob_id: str, checksum_algorithms: Iterable[str],
                 sha256: bool = False) -> None:
        self.blob_id = blob_id
        self.path = store.shard(blob_id) / blob_id
        self._file = open(self.path, "xb")  # noqa: SIM115 - closed in finish()/discard()
        self._md5 = hashlib.md5()
        self._hashers: dict[str, Hasher] = {a: new_hasher(a) for a in checksum_algorithms}
        # One SHA-256 serves both the signed payload hash and a requested SHA256 checksum.
        self._sha256: Hasher | None = self._hashers.get("SHA256") if sha256 else None
        self._extra: list[Hasher] = []
        if sha256 and self._sha256 is None:
            self._sha256 = hashlib.sha256()
            self._extra.append(self._sha256)
        self.size = 0
        self._synced = False

    def write(self, data: bytes) -> None:
        for lane in self.lanes:
            lane(data)

    @property
    def lanes(self) -> tuple[Callable[[bytes], None], ...]:
        """Independent steps of ``write``: each batch may go through them in parallel threads
        (hashlib and zlib release the GIL), as long as batches enter each lane in order."""
        return (*self.hash_lanes, self.write_file)

    @property
    def hash_lanes(self) -> tuple[Callable[[bytes], None], ...]:
        return (self._md5.update, self._digest)

    def write_file(self, data: bytes) -> None:
        self._file.write(data)
        self.size += len(data)

    def write_direct(self, data: bytes, buffer: mmap.mmap) -> bool:
        """Write ``data`` as the whole blob with O_DIRECT through ``buffer`` (page-aligned, at
        least ``data`` rounded up to DIRECT_ALIGN) and make it durable.  False, with nothing
        written, when the filesystem does not do O_DIRECT."""
        padded = -(-len(data) // DIRECT_ALIGN) * DIRECT_ALIGN
        buffer[:len(data)] = data
        buffer[len(data):padded] = bytes(padded - len(data))  # the last block's tail
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC | O_DIRECT)
        except OSError as exc:
            if exc.errno in _NO_DIRECT:
                return False
            raise
        try:
            with memoryview(buffer) as view:
                if not _write_all(fd, view[:padded]):
                    return False
            os.ftruncate(fd, len(data))  # drop the padding of the last block
            os.fdatasync(fd)
        finally:
            os.close(fd)
        self.size += len(data)
        self._synced = True
        return True

    def _digest(self, data: bytes) -> None:
        for hasher in self._hashers.values():
            hasher.update(data)
        for hasher in self._extra:
            hasher.update(data)

    def sync(self) -> None:
        """Make the bytes written so far durable (``finish`` does it if not done)."""
        if not self._synced:
            self._file.flush()
            # a new file: fdatasync writes its bytes and what finds them (size, blocks); all
            # fsync adds is timestamps, which nothing reads
            os.fdatasync(self._file.fileno())
            self._synced = True

    def finish(self) -> WrittenBlob:
        try:
            self.sync()
        except OSError:
            self.discard()
            raise
        self._file.close()
        return WrittenBlob(self.blob_id, self.size, self._md5.digest(),
                           {a: encode(h.digest()) for a, h in self._hashers.items()},
                           self._sha256.digest().hex() if self._sha256 is not None else "")

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


def _write_all(fd: int, view: memoryview) -> bool:
    """Write all of ``view`` at offset 0 of ``fd``; False when the first write is refused as
    O_DIRECT writes are where the filesystem does not support them (nothing written then)."""
    done = 0
    while done < len(view):
        try:
            done += os.pwrite(fd, view[done:], done)
        except OSError as exc:
            if done == 0 and exc.errno in _NO_DIRECT:
                return False
            raise
    return True


class _AlignedBuffers:
    """Page-aligned buffers (anonymous mappings) for O_DIRECT writes.  ``keep`` are kept for
    reuse (a fresh mapping costs a page fault per 4 KiB on first touch); up to ``most`` exist
    at once (the extra ones are unmapped when given back), which bounds the memory a burst of
    concurrent uploads takes; beyond that, writes take the page cache."""

    def __init__(self, size: int = DIRECT_BUFFER, keep: int = DIRECT_BUFFERS,
                 most: int = 4 * DIRECT_BUFFERS) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._free: list[mmap.mmap] = []
        self._keep = keep
        self._left = most  # buffers that may still be made

    def take(self, length: int) -> mmap.mmap | None:
        """A buffer for ``length`` bytes, or None (too long, or too many in use)."""
        if length > self.size:
            return None
        with self._lock:
            if self._free:
                return self._free.pop()
            if self._left == 0:
                return None
            self._left -= 1
        return mmap.mmap(-1, self.size)

    def give(self, buffer: mmap.mmap) -> None:
        with self._lock:
            if len(self._free) < self._keep:
                self._free.append(buffer)
                return
            self._left += 1
        buffer.close()

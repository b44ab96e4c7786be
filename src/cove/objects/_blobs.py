"""Blobs: the bytes of objects and parts, one file each, named by a random id.

A blob is written in place under its final, never-reused name and fsynced before the metadata
row that references it commits; until then no listing or read can reach it, so a crash leaves at
most an unreferenced file, which :meth:`BlobStore.sweep` removes at the next start.  Keys are
never file names: nothing a client sends becomes a path.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from cove.objects._checksums import Hasher, encode, new_hasher

READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class WrittenBlob:
    blob_id: str
    size: int
    md5: bytes
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm -> base64 value
    sha256_hex: str = ""  # when the writer was asked for it (the signed payload hash)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._shards: set[str] = set()  # shard directories known to exist (never removed)

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
                writer.write_file(data)
                writer.sync()
            finally:
                for digest in digests:
                    digest.result()
            return writer.finish()
        except BaseException:
            writer.discard()
            raise

    def read(self, blob_id: str, offset: int, length: int) -> bytes:
        with open(self.path(blob_id), "rb") as f:
            f.seek(offset)
            return f.read(length)

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

    def _digest(self, data: bytes) -> None:
        for hasher in self._hashers.values():
            hasher.update(data)
        for hasher in self._extra:
            hasher.update(data)

    def sync(self) -> None:
        """Make the bytes written so far durable (``finish`` does it if not done)."""
        if not self._synced:
            self._file.flush()
            os.fsync(self._file.fileno())
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

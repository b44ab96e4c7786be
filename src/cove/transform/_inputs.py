"""The objects a transform job reads and writes: listing them (``S3Prefix`` or ``ManifestFile``),
reading their bytes (gunzipped for ``CompressionType`` Gzip) and writing each ``.out`` object.

:class:`LocalObjects` works straight on this machine's object store; a job whose workers run
elsewhere still reads and writes here, so this is the only place that touches the store.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cove import errors
from cove.objects import Checksum, LocalObjectStore, ObjectAttributes, ObjectInfo
from cove.sagemaker import parse_s3_uri
from cove.training import read_manifest


class InputError(ValueError):
    """An input object cannot be read as the job says it is (e.g. not gzip data)."""


@dataclass(frozen=True)
class InputObject:
    """One object to transform, and where its output goes."""

    info: ObjectInfo
    relative: str  # its path relative to the input prefix (or as the manifest lists it)

    @property
    def uri(self) -> str:
        return f"s3://{self.info.bucket}/{self.info.key}"


def relative_key(key: str, prefix: str) -> str:
    """``key`` relative to the input ``prefix``: ``data/`` + ``data/a/b.csv`` -> ``a/b.csv``.

    A prefix that names the object itself gives its file name; a prefix that ends inside a
    name (``data/part`` for ``data/part-1.csv``) keeps that name whole (``part-1.csv``).
    """
    if key == prefix:
        return key.rsplit("/", 1)[-1]
    if not prefix or prefix.endswith("/"):
        return key[len(prefix):]
    if key[len(prefix)] == "/":
        return key[len(prefix) + 1:]
    return key[prefix.rfind("/") + 1:]


class LocalObjects:
    """Inputs and outputs of transform jobs in the local object store."""

    def __init__(self, store: LocalObjectStore) -> None:
        self.store = store

    # --- inputs -----------------------------------------------------------------------------

    def inputs(self, source: dict[str, Any]) -> list[InputObject]:
        """Every object a TransformS3DataSource names, in key (or manifest) order.

        ValidationError when there is none, the manifest is malformed or lists a missing object.
        """
        bucket, prefix = parse_s3_uri(source["S3Uri"], "S3Uri")
        try:
            if source["S3DataType"] == "ManifestFile":
                found = [InputObject(info, rel) for info, rel in read_manifest(
                    self.store, bucket, prefix)]
            else:
                found = [InputObject(info, relative_key(info.key, prefix))
                         for info in self.store.walk(bucket, prefix)]
        except (errors.NoSuchKey, errors.NoSuchBucket) as exc:
            raise errors.ValidationError(
                f"Cannot read the input data at {source['S3Uri']}: {exc.message} "
                f"({exc.details.get('Key') or exc.details.get('BucketName') or bucket})."
            ) from exc
        if not found:
            raise errors.ValidationError(
                f"No S3 objects found under S3 URL \"{source['S3Uri']}\" given in the transform "
                "job's input. Upload the data first, or check the bucket and prefix.")
        return found

    def has_any(self, uri: str) -> bool:
        bucket, prefix = parse_s3_uri(uri, "S3Uri")
        return next(iter(self.store.walk(bucket, prefix)), None) is not None

    def has_bucket(self, uri: str, what: str) -> bool:
        bucket, _ = parse_s3_uri(uri, what)
        try:
            self.store.get_bucket(bucket)
        except errors.NoSuchBucket:
            return False
        return True

    def chunks(self, item: InputObject, compression: str) -> Iterator[bytes]:
        """The object's bytes, decompressed when ``compression`` is Gzip."""
        raw = self.store.iter_range(item.info, 0, item.info.size)
        return gunzip(raw, item.uri) if compression == "Gzip" else raw

    # --- outputs ----------------------------------------------------------------------------

    def output(self, item: InputObject, output_path: str) -> OutputObject:
        bucket, key = output_key(output_path, item.relative)
        return OutputObject(self.store, bucket, key)


def output_key(output_path: str, relative: str) -> tuple[str, str]:
    """``{S3OutputPath}/{relative}.out`` as (bucket, key)."""
    bucket, prefix = parse_s3_uri(output_path, "S3OutputPath")
    prefix = prefix.rstrip("/")
    return bucket, f"{prefix}/{relative}.out" if prefix else f"{relative}.out"


class OutputObject:
    """One ``.out`` object being written: invisible until :meth:`commit`, gone on :meth:`abort`.

    The bytes go to a blob file as they come (fsynced at commit), so an output of any size
    takes no memory and a job that fails or stops leaves no partial object behind.
    """

    def __init__(self, store: LocalObjectStore, bucket: str, key: str) -> None:
        self.store, self.bucket, self.key = store, bucket, key
        self._writer = store.blobs.writer()
        self._open = True

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def write(self, data: bytes) -> None:
        assert self._open, "written after commit or abort"
        self._writer.write(data)

    def commit(self, content_type: str) -> None:
        assert self._open, "committed twice"
        self._open = False
        blob = self._writer.finish()
        self.store.put_object(self.bucket, self.key, blob, ObjectAttributes(content_type),
                              Checksum())

    def abort(self) -> None:
        if self._open:
            self._open = False
            self._writer.discard()


def gunzip(chunks: Iterable[bytes], uri: str) -> Iterator[bytes]:
    """Decompress a gzip stream, members one after another (as ``gzip`` writes appended data)."""
    decompressor, fed = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS), False
    try:
        for chunk in chunks:
            while chunk:
                fed = True
                out = decompressor.decompress(chunk)
                if out:
                    yield out
                chunk = b""
                if decompressor.eof:  # the next member, if any, starts in unused_data
                    chunk = decompressor.unused_data
                    decompressor, fed = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS), False
        tail = decompressor.flush()
        if tail:
            yield tail
    except zlib.error as exc:
        raise InputError(f"{uri} is not gzip data ({exc}); CompressionType is Gzip, so every "
                         "input object must be gzip-compressed.") from exc
    if fed and not decompressor.eof:
        raise InputError(f"{uri} ends in the middle of its gzip data (truncated?).")

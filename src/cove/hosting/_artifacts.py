"""Model artifacts and code archives, extracted once per object version (ETag) and shared by
every worker that serves them."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import tarfile
import tempfile
from pathlib import Path

from cove import errors
from cove.objects import LocalObjectStore
from cove.sagemaker import parse_s3_uri


class ArtifactCache:
    def __init__(self, store: LocalObjectStore, root: Path) -> None:
        self.store = store
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def extract(self, uri: str, what: str = "ModelDataUrl") -> Path:
        """The directory holding the extracted ``model.tar.gz`` (or sourcedir) at ``uri``."""
        bucket, key = parse_s3_uri(uri, what)
        try:
            info = self.store.head_object(bucket, key)
        except (errors.NoSuchKey, errors.NoSuchBucket) as exc:
            raise errors.ValidationError(f"{what} {uri} does not exist.") from exc
        digest = hashlib.sha256(f"{bucket}/{key}/{info.etag}".encode()).hexdigest()[:32]
        target = self.root / digest
        if (target / ".ready").exists():
            return target
        with open(self.root / f"{digest}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (target / ".ready").exists():
                self._unpack(info, target, uri)
        return target

    def _unpack(self, info: object, target: Path, uri: str) -> None:
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".unpack-"))
        archive = staging / "archive"
        try:
            self.store.materialize(info, archive)  # type: ignore[arg-type]
            contents = staging / "contents"
            with tarfile.open(archive) as tar:
                tar.extractall(contents, filter="data")
            (contents / ".ready").write_text(uri)
            shutil.rmtree(target, ignore_errors=True)
            contents.rename(target)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise errors.ValidationError(
                f"{uri} is not a readable .tar.gz archive ({exc}); a model artifact is a "
                "model.tar.gz as training jobs write it.") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)

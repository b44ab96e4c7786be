"""Model artifacts and code archives, extracted once per object version (ETag) and shared by
every worker that serves them."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import tempfile
from pathlib import Path

from cove import errors
from cove.objects import LocalObjectStore, ObjectInfo
from cove.sagemaker import parse_s3_uri
from cove.untrusted import ArchiveLimits, extract_tar

DEFAULT_LIMITS = ArchiveLimits()


class ArtifactCache:
    def __init__(self, store: LocalObjectStore, root: Path,
                 limits: ArchiveLimits = DEFAULT_LIMITS) -> None:
        self.store = store
        self.root = root
        self.limits = limits
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
                self._unpack(info, target, uri, what)
        return target

    def _unpack(self, info: ObjectInfo, target: Path, uri: str, what: str) -> None:
        """Unpack into a staging directory within the limits (a refused archive leaves nothing
        behind), then rename it into place."""
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".unpack-"))
        archive = staging / "archive"
        code = what == "SAGEMAKER_SUBMIT_DIRECTORY"
        try:
            self.store.materialize(info, archive)
            contents = staging / "contents"
            extract_tar(archive, contents,
                        self.limits.sourcedir_bytes if code else self.limits.model_bytes,
                        self.limits.members, f"{what} {uri}")
            (contents / ".ready").write_text(uri)
            shutil.rmtree(target, ignore_errors=True)
            contents.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

"""Per-sandbox writable places on the machine's disk: ``/lib``.

A container's ``/lib`` is writable (SDK v3's TorchServe handler copies a model's
``shared_libs`` into it), but the machine's must never change, and bubblewrap 0.8 has no
overlay mounts.  So each sandbox gets its own directory at ``/lib``, owned by the sandbox's
user, holding a link to each entry of the machine's ``/usr/lib`` (itself read-only in the
sandbox): existing libraries resolve as before and cannot be modified through the links, and
new files land in the sandbox's own directory, seen by no other sandbox.

The directories live under ``$TMPDIR/cove-scratch-<uid>/``, each with a ``lease`` file the
sandbox holds a shared lock on for as long as it runs (like the network leases of
``_networks.py``).  Making a new one removes those no sandbox holds any more, so a directory
outlives its sandbox only until the next start, even across a crash of cove.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SYSTEM_LIBRARIES = Path("/usr/lib")
ORPHAN_AGE = 60.0  # a directory without a lease this old was never handed to a sandbox


@dataclass(frozen=True)
class Scratch:
    """One sandbox's directories; ``lease`` must be passed to it and closed after the spawn."""

    root: Path
    lib: Path
    lease: int


def writable_lib() -> bool:
    """Whether this machine's ``/lib`` is ``/usr/lib`` (merged /usr), which the sandbox can
    stand in for; elsewhere ``/lib`` stays the machine's, read-only."""
    return Path("/lib").is_symlink() and os.path.realpath("/lib") == str(SYSTEM_LIBRARIES)


def make(uid: int, gid: int) -> Scratch:
    """A new sandbox's ``/lib``, owned by ``uid``:``gid`` (its user on the machine)."""
    base = _base()
    _collect(base)
    # Made under a hidden name and renamed once its lease is held: another cove's collection
    # never sees it unleased.
    hidden = Path(tempfile.mkdtemp(prefix=".sandbox-", dir=base))
    lease = os.open(hidden / "lease", os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(lease, fcntl.LOCK_SH)
    root = hidden.with_name(hidden.name[1:])
    hidden.rename(root)
    lib = root / "lib"
    lib.mkdir(mode=0o755)
    for entry in os.listdir(SYSTEM_LIBRARIES):
        os.symlink(SYSTEM_LIBRARIES / entry, lib / entry)
    if (uid, gid) != (os.geteuid(), os.getegid()):
        for path in (lib, *lib.iterdir()):
            os.lchown(path, uid, gid)
    return Scratch(root, lib, lease)


def _base() -> Path:
    path = Path(tempfile.gettempdir()) / f"cove-scratch-{os.geteuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _collect(base: Path) -> None:
    """Remove the directories of sandboxes that have ended."""
    for root in base.iterdir():
        try:
            if root.name.startswith("."):  # being made, or abandoned while being made
                if time.time() - root.lstat().st_mtime > ORPHAN_AGE:
                    remove(root)
                continue
            lease = os.open(root / "lease", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # another cove removed it first
        try:
            fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # its sandbox still runs
        finally:
            os.close(lease)
        remove(root)


def remove(root: Path) -> None:
    """Remove a tree the sandbox wrote, even where it took its own rights away (chmod 0)."""
    def retry(function: object, path: str, error: tuple[type, BaseException, object]) -> None:
        if isinstance(error[1], FileNotFoundError):
            return  # removed already (by another cove collecting the same directory)
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
            shutil.rmtree(path, onerror=retry)
        else:
            os.unlink(path)

    shutil.rmtree(root, onerror=retry)

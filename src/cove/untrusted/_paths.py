"""Reading beneath a directory cove owns without following what user code planted in it.

A path is walked one component at a time from a directory descriptor: each component is opened
relative to the one before with ``O_NOFOLLOW``, so a symlink anywhere on the way (``output ->
/``, ``failure -> credentials.json``) stops the walk instead of leading out of the tree, and a
rename racing the walk cannot redirect it (each descriptor pins what was checked).  Only
regular files are read; FIFOs are opened non-blocking so one cannot hang the server.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cove import errors

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class Unsafe(errors.ValidationError):
    """A path user code controls is a link, a special file, or climbs out of its tree."""


def open_beneath(base: Path, relative: str, *, directory: bool = False) -> int:
    """A descriptor of ``base/relative`` (a regular file, or a directory if ``directory``).

    ``base`` is trusted (cove made it and user code cannot replace it); nothing below it is
    followed.  FileNotFoundError when a component is missing; ``Unsafe`` when one is a link or
    not what it should be.  The caller closes the descriptor.
    """
    parts = PurePosixPath(relative).parts
    if any(part in ("..", "/") for part in parts):
        raise Unsafe(f"{relative} leaves its directory")
    fd = os.open(base, _DIRECTORY)
    try:
        for index, part in enumerate(parts):
            last_file = index == len(parts) - 1 and not directory
            following = _open_component(fd, part, _FILE if last_file else _DIRECTORY, relative)
            os.close(fd)
            fd = following
        if not directory and not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Unsafe(f"{relative} is not a regular file")
        return fd
    except BaseException:
        os.close(fd)
        raise


def _open_component(parent: int, name: str, flags: int, relative: str) -> int:
    try:
        return os.open(name, flags, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENXIO):
            raise Unsafe(f"{relative}: {name} is a link or not a directory; cove does not "
                         "follow it") from exc
        raise


def read_capped(base: Path, relative: str, limit: int) -> bytes | None:
    """The first ``limit`` bytes of the regular file ``base/relative``; None if it is missing.
    ``Unsafe`` if it (or a directory on the way) is a link or a special file."""
    try:
        fd = open_beneath(base, relative)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as file:
        return file.read(limit)


@dataclass
class PackedTree:
    """What ``pack_tree`` put in the archive, and what it left out (and why)."""

    files: int = 0
    bytes: int = 0
    skipped: int = 0


def pack_tree(base: Path, relative: str, archive: BinaryIO, log: Callable[[str], None],
              compresslevel: int = 1) -> PackedTree:
    """Write the tree at ``base/relative`` as a .tar.gz to ``archive``, names relative to it.

    Regular files and directories go in; a symlink goes in only as a link that stays inside the
    tree (it is never followed); anything else — links out of the tree, FIFOs, sockets,
    devices — is left out with a line to ``log``.  If the tree itself is a link or missing, the
    archive is empty.
    """
    packed = PackedTree()
    with tarfile.open(fileobj=archive, mode="w:gz", compresslevel=compresslevel) as tar:
        try:
            root = open_beneath(base, relative, directory=True)
        except FileNotFoundError:
            return packed
        except Unsafe as exc:
            log(f"cove: {exc}; nothing from it is uploaded")
            packed.skipped += 1
            return packed
        try:
            _pack_directory(root, "", tar, packed, _Reporter(relative, log))
        finally:
            os.close(root)
    return packed


@dataclass(frozen=True)
class _Reporter:
    tree: str
    log: Callable[[str], None]

    def skip(self, name: str, why: str) -> None:
        self.log(f"cove: left {self.tree}/{name} out of the archive: {why}")


def _pack_directory(fd: int, prefix: str, tar: tarfile.TarFile, packed: PackedTree,
                    report: _Reporter) -> None:
    for name in sorted(os.listdir(fd)):
        member = prefix + name
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            _pack_subdirectory(fd, name, member, tar, packed, report)
        elif stat.S_ISREG(info.st_mode):
            _pack_file(fd, name, member, tar, packed, report)
        elif stat.S_ISLNK(info.st_mode):
            _pack_link(fd, name, member, tar, packed, report)
        else:
            report.skip(member, "not a regular file, directory or link")
            packed.skipped += 1


def _pack_subdirectory(parent: int, name: str, member: str, tar: tarfile.TarFile,
                       packed: PackedTree, report: _Reporter) -> None:
    try:
        fd = _open_component(parent, name, _DIRECTORY, member)
    except Unsafe as exc:  # replaced by a link since it was listed
        report.skip(member, str(exc))
        packed.skipped += 1
        return
    try:
        tar.addfile(_entry(member, os.fstat(fd), tarfile.DIRTYPE))
        _pack_directory(fd, member + "/", tar, packed, report)
    finally:
        os.close(fd)


def _pack_file(parent: int, name: str, member: str, tar: tarfile.TarFile, packed: PackedTree,
               report: _Reporter) -> None:
    try:
        fd = _open_component(parent, name, _FILE, member)
    except Unsafe as exc:
        report.skip(member, str(exc))
        packed.skipped += 1
        return
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            report.skip(member, "not a regular file")
            packed.skipped += 1
            return
        entry = _entry(member, info, tarfile.REGTYPE)
        entry.size = info.st_size
        tar.addfile(entry, file)
    packed.files += 1
    packed.bytes += info.st_size


def _pack_link(parent: int, name: str, member: str, tar: tarfile.TarFile, packed: PackedTree,
               report: _Reporter) -> None:
    target = os.readlink(name, dir_fd=parent)
    resolved = os.path.normpath(os.path.join(os.path.dirname(member), target))
    if os.path.isabs(target) or resolved == ".." or resolved.startswith("../"):
        report.skip(member, f"a link to {target}, outside the directory")
        packed.skipped += 1
        return
    entry = _entry(member, os.stat(name, dir_fd=parent, follow_symlinks=False), tarfile.SYMTYPE)
    entry.linkname = target
    tar.addfile(entry)


def _entry(name: str, info: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type = kind
    # no set-id bits, and not the host's uids: the archive is read on other machines
    entry.mode = info.st_mode & 0o777
    entry.mtime = int(info.st_mtime)
    return entry


# --- writing into a tree user code may have rearranged --------------------------------------

def ensure_directory(base: Path, relative: str) -> int:
    """A descriptor of the directory ``base/relative``, made as needed.  A component that user
    code replaced with a link or a file is removed and made a directory again: cove's own
    places in a user's tree are cove's to restore, and nothing outside is touched."""
    parts = PurePosixPath(relative).parts
    if any(part in ("..", "/") for part in parts):
        raise Unsafe(f"{relative} leaves its directory")
    fd = os.open(base, _DIRECTORY)
    try:
        for part in parts:
            following = _directory_in(fd, part)
            os.close(fd)
            fd = following
        return fd
    except BaseException:
        os.close(fd)
        raise


def _directory_in(parent: int, name: str) -> int:
    try:
        return os.open(name, _DIRECTORY, dir_fd=parent)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        os.unlink(name, dir_fd=parent)  # a link or a file where cove's directory belongs
    os.mkdir(name, 0o755, dir_fd=parent)
    return os.open(name, _DIRECTORY, dir_fd=parent)


def write_beneath(base: Path, relative: str, data: bytes) -> None:
    """Write ``data`` to ``base/relative`` whole (a new file renamed over the old name, so a
    link planted there is replaced, never written through)."""
    path = PurePosixPath(relative)
    fd = ensure_directory(base, str(path.parent))
    try:
        temporary = f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                      os.O_CLOEXEC, 0o644, dir_fd=fd)
        with os.fdopen(out, "wb") as file:
            file.write(data)
        _clear(fd, path.name, keep_files=True)
        os.replace(temporary, path.name, src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)


def move_beneath(staged: Path, base: Path, relative: str) -> None:
    """Move the file or directory ``staged`` (on the same filesystem, somewhere user code cannot
    reach) to ``base/relative``, replacing whatever is there without following it."""
    path = PurePosixPath(relative)
    fd = ensure_directory(base, str(path.parent))
    try:
        _clear(fd, path.name, keep_files=False)
        os.rename(staged, path.name, dst_dir_fd=fd)
    finally:
        os.close(fd)


def _clear(parent: int, name: str, keep_files: bool) -> None:
    """Remove ``name`` if it is a directory (rename cannot replace one with a file), or any
    entry unless ``keep_files`` (then rename replaces a file or link atomically)."""
    try:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(name, dir_fd=parent)  # rmtree never follows links out
    elif not keep_files:
        os.unlink(name, dir_fd=parent)

"""Cached environments for ``requirements.txt``: one per distinct file, layered on cove's own
packages, so a second job (or endpoint) with the same requirements installs nothing.

pip runs in the requirements file's directory, as the SageMaker training toolkit runs it, so a
relative path in the file (``./vendored/pkg``) means a path in the source directory."""

from __future__ import annotations

import fcntl
import hashlib
import os
import site
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from cove import errors


class Environments:
    def __init__(self, root: Path) -> None:
        self.root = root

    def python_for(self, requirements: Path, log: Callable[[str], None]) -> str:
        """The interpreter of the environment for ``requirements`` (built on first use)."""
        key = _fingerprint(requirements)
        env_dir = self.root / key
        python = env_dir / "bin" / "python"
        if (env_dir / ".ready").exists():
            log(f"Using the cached environment for requirements.txt ({key}).")
            return str(python)
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (env_dir / ".ready").exists():
                self._build(env_dir, requirements, log)
        return str(python)

    def _build(self, env_dir: Path, requirements: Path, log: Callable[[str], None]) -> None:
        log(f"Installing requirements.txt into {env_dir.name} (cached for later jobs).")
        _run([sys.executable, "-m", "venv", "--without-pip", "--clear", str(env_dir)], log)
        site_dir = next((env_dir / "lib").glob("python*/site-packages"))
        # Layer on cove's environment: its packages count as installed; new ones go on top.
        (site_dir / "_cove_base.pth").write_text("".join(
            f"import site; site.addsitedir({path!r})\n" for path in site.getsitepackages()))
        _run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"),
              "install", "--disable-pip-version-check", "--no-input", "-r",
              str(requirements.resolve())], log, cwd=requirements.parent)
        (env_dir / ".ready").write_text("ok\n")


def _fingerprint(requirements: Path) -> str:
    """The cache key: the interpreter, the file's text, and the contents of the local files and
    directories it names, so a rebuilt wheel at the same path gets a new environment."""
    text = requirements.read_text()
    digest = hashlib.sha256((sys.executable + "\n" + text).encode())
    for line in text.splitlines():
        entry = line.split(" #", 1)[0].strip().removeprefix("file://")
        if not entry or entry.startswith(("#", "-")):
            continue
        path = requirements.parent / entry
        # the archive's own files only: the server follows no link or absolute path out of it
        # (an entry of "/" would have it read the whole machine)
        if not _beneath(path, requirements.parent):
            continue
        files = sorted(p for p in path.rglob("*") if _regular(p)) if _directory(path) else (
            [path] if _regular(path) else [])
        for file in files:
            digest.update(f"\n{file.relative_to(path.parent)}\n".encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:24]


def _beneath(path: Path, root: Path) -> bool:
    return os.path.realpath(path).startswith(os.path.realpath(root) + os.sep)


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except FileNotFoundError:
        return False


def _directory(path: Path) -> bool:
    return not path.is_symlink() and path.is_dir()


def _run(command: list[str], log: Callable[[str], None], cwd: Path | None = None) -> None:
    proc = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    lines = (proc.stdout + proc.stderr).splitlines()
    for line in lines:
        log(line)
    if proc.returncode != 0:
        # pip's own verdict ("ERROR: No matching distribution found for ...") says what to fix.
        verdict = [line.strip()[:300] for line in lines if line.startswith("ERROR:")][-2:]
        raise errors.ClientError(
            f"installing requirements.txt failed (exit {proc.returncode})"
            + (f": {' '.join(verdict)}" if verdict else "") + "; the log has pip's output")

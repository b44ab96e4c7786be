"""Cached environments for ``requirements.txt``: one per distinct file, layered on cove's own
packages, so a second job with the same requirements installs nothing."""

from __future__ import annotations

import fcntl
import hashlib
import site
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
        text = requirements.read_text()
        key = hashlib.sha256((sys.executable + "\n" + text).encode()).hexdigest()[:24]
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
              str(requirements)], log)
        (env_dir / ".ready").write_text("ok\n")


def _run(command: list[str], log: Callable[[str], None]) -> None:
    proc = subprocess.run(command, capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).splitlines():
        log(line)
    if proc.returncode != 0:
        raise errors.ClientError(f"installing requirements.txt failed (exit {proc.returncode}); "
                                 "the job log has pip's output")

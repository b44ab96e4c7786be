"""Cached environments for ``requirements.txt``: one per distinct file, layered on cove's own
packages, so a second job (or endpoint) with the same requirements installs nothing.

pip runs in the requirements file's directory, as the SageMaker training toolkit runs it, so a
relative path in the file (``./vendored/pkg``) means a path in the source directory."""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import hashlib
import os
import shutil
import site
import stat
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

from cove import errors
from cove.executors import ProcessSpec, Sandbox, hand_over
from cove.training import _indexproxy


class Environments:
    """Built in ``sandbox`` as its unprivileged user, with the job's code directory writable
    (pip builds local packages in place) and the environment directory writable while it is
    built; afterwards the environment belongs to cove again and sandboxes only read it."""

    def __init__(self, root: Path, sandbox: Sandbox) -> None:
        self.root, self.sandbox = root, sandbox

    def python_for(self, requirements: Path, log: Callable[[str], None]) -> str:
        """The interpreter of the environment for ``requirements`` (built on first use)."""
        key = _fingerprint(requirements)
        env_dir = self.root / key
        python = env_dir / "bin" / "python"
        ready = self.root / f"{key}.ready"  # beside, not inside: the build cannot forge it
        if ready.exists():
            log(f"Using the cached environment for requirements.txt ({key}).")
            return str(python)
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not ready.exists():
                self._build(env_dir, requirements, log)
                ready.write_text("ok\n")
        return str(python)

    def _build(self, env_dir: Path, requirements: Path, log: Callable[[str], None]) -> None:
        log(f"Installing requirements.txt into {env_dir.name} (cached for later jobs).")
        shutil.rmtree(env_dir, ignore_errors=True)  # a build that died half-way
        env_dir.mkdir(parents=True)
        local, hosts = package_index()
        code = requirements.parent.resolve()
        command = [sys.executable, "-m", "cove.training._envbuild", str(env_dir),
                   str(requirements.resolve()), *site.getsitepackages()]
        try:
            with _way_out(hosts, log) as (env, exit_port):
                _run(self.sandbox, ProcessSpec(command, env, code, code, readonly=local,
                                               exit_port=exit_port, writable=(code, env_dir)),
                     log)
        finally:
            if os.geteuid() == 0:  # cove's again: later sandboxes read it, none writes it
                hand_over(env_dir, 0, 0)
                hand_over(code, 0, 0)


def package_index() -> tuple[tuple[Path, ...], frozenset[tuple[str, int]]]:
    """The local directories pip's configuration names (to mount read-only), and the hosts and
    ports of the indexes it names on the network — PyPI unless ``no-index`` or an
    ``index-url`` says otherwise."""
    settings = _pip_settings()
    locations = []
    for key in ("index-url", "extra-index-url", "find-links"):
        locations += settings.get(key, "").split()
    if "index-url" not in settings and settings.get("no-index", "").lower() not in (
            "1", "true", "yes", "on"):
        locations.append("https://pypi.org/simple")
    hosts = _indexproxy.allowed_hosts(locations)
    paths = [Path(urllib.parse.urlsplit(loc).path if loc.startswith("file:") else loc)
             for loc in locations if not loc.startswith(("http://", "https://"))]
    for key in ("constraint", "requirement"):
        paths += [Path(p) for p in settings.get(key, "").split()]
    return tuple(p for p in paths if p.is_absolute() and p.exists()), hosts


def _pip_settings() -> dict[str, str]:
    """pip's ``[global]``/``[install]`` settings from its configuration files and PIP_*
    variables, later ones winning, as pip reads them."""
    parser = configparser.RawConfigParser()
    files = ["/etc/xdg/pip/pip.conf", "/etc/pip.conf",
             os.path.expanduser("~/.pip/pip.conf"), os.path.expanduser("~/.config/pip/pip.conf"),
             os.environ.get("PIP_CONFIG_FILE", "")]
    parser.read([f for f in files if f])
    settings: dict[str, str] = {}
    for section in ("global", "install"):
        if parser.has_section(section):
            settings.update(parser.items(section))
    for name, value in os.environ.items():
        if name.startswith("PIP_"):
            settings[name[4:].lower().replace("_", "-")] = value
    return settings


def _build_environment() -> dict[str, str]:
    """pip's settings and nothing of cove's (its keys, its home)."""
    keep = {name: value for name, value in os.environ.items()
            if name.startswith("PIP_") or name in ("LANG", "LC_ALL", "PIP_CONFIG_FILE")}
    return {**keep, "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp",
            "PYTHONDONTWRITEBYTECODE": "1"}


@contextlib.contextmanager
def _way_out(hosts: frozenset[tuple[str, int]],
             log: Callable[[str], None]) -> Iterator[tuple[dict[str, str], int]]:
    """The build's environment and the port its network leads to: with an index on the
    network, an index proxy for the build's lifetime (0: cove's API, as for any sandbox)."""
    if not hosts:
        yield _build_environment(), 0
        return
    with _indexproxy.running(hosts) as proxy:
        log(f"The package index is on the network: this build reaches only: "
            f"{_indexproxy.describe(hosts)} (through cove's index proxy).")
        # pip and whatever a build backend runs, relayed to the same port inside the build's
        # network; nothing bypasses it (loopback included)
        url = f"http://127.0.0.1:{proxy.port}"
        yield {**_build_environment(), "PIP_PROXY": url, "HTTPS_PROXY": url, "HTTP_PROXY": url,
               "https_proxy": url, "http_proxy": url, "NO_PROXY": "", "no_proxy": ""}, proxy.port


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


def _run(sandbox: Sandbox, spec: ProcessSpec, log: Callable[[str], None]) -> None:
    proc = sandbox.spawn(spec, subprocess.PIPE)
    assert proc.stdout is not None
    lines = [raw.decode("utf-8", "replace").rstrip("\n") for raw in proc.stdout]
    for line in lines:
        log(line)
    if proc.wait() != 0:
        # pip's own verdict ("ERROR: No matching distribution found for ...") says what to fix.
        verdict = [line.strip()[:300] for line in lines if line.startswith("ERROR:")][-2:]
        raise errors.ClientError(
            f"installing requirements.txt failed (exit {proc.returncode})"
            + (f": {' '.join(verdict)}" if verdict else "") + "; the log has pip's output")

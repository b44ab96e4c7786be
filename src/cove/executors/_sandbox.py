"""Sandboxes for the user code cove runs (training hosts, model workers, function workers,
notebook kernels, requirements builds).

``Bubblewrap`` is the sandbox: an unprivileged uid in a user namespace, no capabilities,
seccomp, its own PID/IPC/UTS/mount namespaces and a minimal filesystem (``_confinement.py``)
with its own writable ``/lib`` (``_scratch.py``), a network whose only way out is cove's API
(``_networks.py``) or, for a requirements build, its index proxy (``ProcessSpec.exit_port``),
and, where the spec names one, its instance type's quota (``_quotas.py``).  Where bubblewrap
is missing or broken, ``MissingSandbox`` refuses to run anything, saying why;
``PlainProcess`` (no confinement at all) runs only when ``COVE_SANDBOX=none`` asks for it, and
says so.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from cove import errors
from cove.executors import _networks, _quotas, _scratch
from cove.executors._confinement import Confinement
from cove.executors._quotas import Quota

log = logging.getLogger("cove.sandbox")


@dataclass(frozen=True)
class ProcessSpec:
    command: list[str]
    env: dict[str, str]
    job_dir: Path  # read-write; mounted at /opt/ml when the sandbox can
    cwd: Path  # as the process sees it
    #: Directories the process must not see (cove's home): bubblewrap shows nothing it is not
    #: given anyway; kept for callers' intent.
    hidden: tuple[Path, ...] = ()
    readonly: tuple[Path, ...] = ()  # directories it may read, at their own paths (env caches)
    hosts: dict[str, str] = field(default_factory=dict)  # host name -> address
    #: Read-only mounts (source, path inside /opt/ml) — only where the sandbox mounts /opt/ml.
    mounts: tuple[tuple[Path, str], ...] = ()
    #: Processes with the same network key share one network namespace (a job's hosts); ""
    #: gives the process a network of its own.
    network: str = ""
    #: Ports on the machine's loopback forwarded to the same port inside (a notebook's server).
    ports: tuple[int, ...] = ()
    #: The port on the machine's loopback that the network's only way out leads to, at the
    #: same port inside, instead of cove's API (a requirements build's index proxy); 0: the API.
    exit_port: int = 0
    writable: tuple[Path, ...] = ()  # directories it may write, at their own paths
    #: Descriptors the process inherits at the same numbers (a socket cove bound for it).
    fds: tuple[int, ...] = ()
    #: What it may use (its instance type's memory and processes); None: no bounds.
    quota: Quota | None = None


def describe(sandbox: Sandbox) -> str:
    """One line for ``cove status`` and the console."""
    if isinstance(sandbox, MissingSandbox):
        return f"MISSING: {sandbox.reason}"
    if sandbox.warning:
        return f"none (UNSANDBOXED): {sandbox.warning}"
    return f"{sandbox.name}: user namespace, no capabilities, seccomp, own network"


class Sandbox(Protocol):
    """Starts user code confined.  ``spawn`` raises ``errors.ServerError`` when the process
    cannot be started (or, for ``MissingSandbox``, must not be)."""

    name: str
    #: Whether processes see their job directory at /opt/ml (else at its real path).
    mounts_opt_ml: bool
    #: Said first in every job's log when the sandbox confines nothing ("" otherwise).
    warning: str

    def spawn(self, spec: ProcessSpec, stdout: IO[bytes] | int) -> subprocess.Popen[bytes]: ...

    def terminate(self, proc: subprocess.Popen[bytes]) -> None:
        """Ask the confined processes to end (SIGTERM), leaving the sandbox to follow."""
        ...


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a spawned process and everything in its process group."""
    _signal_group(proc.pid, signal.SIGKILL)


UNSANDBOXED = ("WARNING: COVE_SANDBOX=none: user code runs UNSANDBOXED as cove's own user, "
               "able to read cove's data directory and keys. Install bubblewrap "
               "(apt-get install bubblewrap) and unset COVE_SANDBOX.")


class PlainProcess:
    """No confinement at all: only where the operator asked for it (``COVE_SANDBOX=none``)."""

    name = "none"
    mounts_opt_ml = False
    warning = UNSANDBOXED

    def spawn(self, spec: ProcessSpec, stdout: IO[bytes] | int) -> subprocess.Popen[bytes]:
        return _popen(spec.command, spec.env, spec.cwd, stdout, spec.fds)

    def terminate(self, proc: subprocess.Popen[bytes]) -> None:
        _signal_group(proc.pid, signal.SIGTERM)


class MissingSandbox:
    """bubblewrap is missing or broken and nobody said ``COVE_SANDBOX=none``: cove serves
    everything but runs no user code."""

    name = "bwrap"  # what it stands in for: a Ray node checks for bubblewrap itself
    mounts_opt_ml = True
    warning = ""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def spawn(self, spec: ProcessSpec, stdout: IO[bytes] | int) -> subprocess.Popen[bytes]:
        raise errors.ServerError(self.reason)

    def terminate(self, proc: subprocess.Popen[bytes]) -> None:
        _signal_group(proc.pid, signal.SIGTERM)


class Bubblewrap:
    """The sandbox (see ``_confinement.py`` for what it lets a process see and do)."""

    name = "bwrap"
    mounts_opt_ml = True
    warning = ""

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def spawn(self, spec: ProcessSpec, stdout: IO[bytes] | int) -> subprocess.Popen[bytes]:
        membership = _networks.join(spec.network or f"private-{uuid.uuid4().hex}",
                                    spec.exit_port or _api_port(spec.env), spec.ports,
                                    spares=not spec.exit_port)
        scratch = self._scratch()
        arguments = Confinement(spec, scratch.lib if scratch else None)
        leases = (membership.lease, *([scratch.lease] if scratch else []))
        try:
            command = [*membership.enter(), self.executable, *self._prepare(spec, arguments)]
            proc = _popen(command, spec.env, None, stdout, (*arguments.fds, *leases, *spec.fds))
        finally:  # the child has its copies; the network and /lib live while the child does
            arguments.close()
            for lease in leases:
                os.close(lease)
        if spec.quota is not None:
            _quotas.watch(proc, spec.quota)
        return proc

    @staticmethod
    def _scratch() -> _scratch.Scratch | None:
        if not _scratch.writable_lib():
            return None
        try:
            return _scratch.make(*_networks.outer_ids())
        except OSError as exc:
            raise errors.ServerError(f"cannot make the sandbox's /lib: {exc}") from exc

    @staticmethod
    def _prepare(spec: ProcessSpec, arguments: Confinement) -> list[str]:
        try:
            if os.geteuid() == 0:  # the sandbox's uid is nobody's: let it write its own places
                for path in (spec.job_dir, *spec.writable):
                    hand_over(path, *_networks.outer_ids())
            return arguments.build()
        except OSError as exc:
            raise errors.ServerError(f"cannot set up the sandbox: {exc}") from exc

    def terminate(self, proc: subprocess.Popen[bytes]) -> None:
        # Not bwrap itself: it would die at once and take the job down with SIGKILL before
        # the job's own SIGTERM handler could save its work.
        for pid, command in _group_members(proc.pid):
            if command != "bwrap":
                _signal(pid, signal.SIGTERM)


def _api_port(env: dict[str, str]) -> int:
    """cove's port, from the endpoint the process is given (0: it is given none)."""
    url = env.get("AWS_ENDPOINT_URL", "")
    return (urllib.parse.urlsplit(url).port or 0) if url else 0


def hand_over(path: Path, uid: int, gid: int) -> None:
    """Own ``path`` and everything under it as uid:gid, never following a symlink."""
    if not path.exists():
        return
    os.lchown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.lchown(os.path.join(root, name), uid, gid)


def _group_members(group: int) -> list[tuple[int, str]]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        command = stat[stat.index("(") + 1: stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == group:
            members.append((int(entry.name), command))
    return members


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended on its own: nothing to do
        os.kill(pid, sig)


def _signal_group(group: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)


#: Every sandboxed process is started from this one long-lived thread: bwrap's
#: --die-with-parent (PR_SET_PDEATHSIG) fires when the *thread* that forked it ends, so a
#: short-lived thread would take its processes down with it.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cove-spawner")


def _popen(command: list[str], env: dict[str, str], cwd: Path | None,
           stdout: IO[bytes] | int, fds: tuple[int, ...] = ()) -> subprocess.Popen[bytes]:
    try:
        return _SPAWNER.submit(
            subprocess.Popen, command, env=env, cwd=cwd, stdout=stdout,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, pass_fds=fds,
            start_new_session=True).result()  # its own process group, for stop
    except OSError as exc:
        raise errors.ServerError(f"cannot start {command[0]!r}: {exc}") from exc


def choose_sandbox(preference: str = "auto") -> Sandbox:
    """``auto`` or ``bwrap``: bubblewrap, or — where it is missing or cannot make namespaces
    here — a sandbox that refuses to run anything and says why.  ``none``: plain processes,
    only when asked for by name."""
    if preference not in ("auto", "bwrap", "none"):
        raise errors.ServerError(f"COVE_SANDBOX must be auto, bwrap or none, not {preference!r}")
    if preference == "none":
        log.warning(UNSANDBOXED)
        return PlainProcess()
    executable = shutil.which("bwrap")
    problem = _problem(executable)
    if executable and not problem:
        return Bubblewrap(executable)
    reason = (f"cove runs no user code without its sandbox: {problem}. Install bubblewrap "
              "(apt-get install bubblewrap) on a kernel that allows user namespaces, or set "
              "COVE_SANDBOX=none to run user code unsandboxed (unsafe).")
    log.error(reason)
    return MissingSandbox(reason)


@functools.cache
def _problem(executable: str | None) -> str:
    """Why bubblewrap cannot confine a process here ("" when it can)."""
    if not executable or not shutil.which("nsenter"):
        return "bubblewrap (bwrap) or nsenter is not installed"
    with tempfile.TemporaryDirectory(prefix="cove-probe-") as scratch:
        try:
            probe = Bubblewrap(executable).spawn(
                ProcessSpec(["/bin/true"], {"PATH": "/usr/bin:/bin"}, Path(scratch),
                            Path("/")), subprocess.PIPE)
        except errors.ServerError as exc:
            return str(exc)
        output = probe.communicate(timeout=60)[0].decode(errors="replace").strip()
    return f"bwrap failed here: {output[-300:]}" if probe.returncode else ""

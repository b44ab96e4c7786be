"""Sandboxes for the code cove runs (training jobs, model workers, functions).

``Bubblewrap`` (the default when ``bwrap`` is installed) gives each process a read-only view of
the machine with cove's data directory hidden, a private /tmp, /proc and PID namespace (so cove's
environment cannot be read), its job directory mounted read-write at ``/opt/ml`` and an
/etc/hosts naming the job's hosts.  ``PlainProcess`` is the fallback where bwrap is missing: a
clean environment and its own process group, nothing hidden (cove warns).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from cove import errors

log = logging.getLogger("cove.sandbox")


@dataclass(frozen=True)
class ProcessSpec:
    command: list[str]
    env: dict[str, str]
    job_dir: Path  # read-write; mounted at /opt/ml when the sandbox can
    cwd: Path  # as the process sees it
    hidden: tuple[Path, ...] = ()  # directories the process must not see (cove's home)
    readonly: tuple[Path, ...] = ()  # directories inside hidden ones it may read (env caches)
    hosts: dict[str, str] = field(default_factory=dict)  # host name -> address
    #: Read-only mounts (source, path inside /opt/ml) — only where the sandbox mounts /opt/ml.
    mounts: tuple[tuple[Path, str], ...] = ()


class Sandbox(Protocol):
    name: str
    #: Whether processes see their job directory at /opt/ml (else at its real path).
    mounts_opt_ml: bool

    def spawn(self, spec: ProcessSpec, stdout: IO[bytes] | int) -> subprocess.Popen[bytes]: ...

    def terminate(self, proc: subprocess.Popen[bytes]) -> None:
        """Ask the confined processes to end (SIGTERM), leaving the sandbox to follow."""
        ...


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a spawned process and everything in its process group."""
    _signal_group(proc.pid, signal.SIGKILL)


class PlainProcess:
    name = "none"
    mounts_opt_ml = False

    def spawn(self, spec: ProcessSpec, stdout: IO[bytes] | int) -> subprocess.Popen[bytes]:
        return _popen(spec.command, spec.env, spec.cwd, stdout)

    def terminate(self, proc: subprocess.Popen[bytes]) -> None:
        _signal_group(proc.pid, signal.SIGTERM)


class Bubblewrap:
    name = "bwrap"
    mounts_opt_ml = True

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def spawn(self, spec: ProcessSpec, stdout: IO[bytes] | int) -> subprocess.Popen[bytes]:
        hosts_file = spec.job_dir.parent / f".{spec.job_dir.name}.hosts"
        hosts_file.write_text("127.0.0.1 localhost\n::1 localhost\n" + "".join(
            f"{address} {name}\n" for name, address in spec.hosts.items()))
        args = [self.executable, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                "--tmpfs", "/tmp", "--unshare-pid", "--unshare-ipc", "--die-with-parent"]
        args += _opt_ml_mountpoint()
        for path in spec.hidden:
            args += ["--tmpfs", str(path)]
        masked = (Path("/tmp"), *spec.hidden)
        for path in (*spec.readonly, *_runtime_paths(masked)):
            args += ["--ro-bind", str(path), str(path)]
        args += ["--bind", str(spec.job_dir), "/opt/ml"]
        for source, inside in spec.mounts:
            args += ["--ro-bind", str(source), f"/opt/ml/{inside}"]
        args += ["--ro-bind", str(hosts_file), "/etc/hosts", "--chdir", str(spec.cwd), "--",
                 *spec.command]
        return _popen(args, spec.env, None, stdout)

    def terminate(self, proc: subprocess.Popen[bytes]) -> None:
        # Not bwrap itself: it would die at once and take the job down with SIGKILL before
        # the job's own SIGTERM handler could save its work.
        for pid, command in _group_members(proc.pid):
            if command != "bwrap":
                _signal(pid, signal.SIGTERM)


def _runtime_paths(masked: tuple[Path, ...]) -> list[Path]:
    """The interpreter and packages a sandboxed process needs that a mask would hide (cove
    installed in a virtualenv under /tmp, say): they are mounted back read-only."""
    import site

    import cove

    needed = {Path(sys.prefix), Path(sys.base_prefix), *map(Path, site.getsitepackages()),
              Path(cove.__file__).resolve().parent.parent}
    return sorted(p for p in needed
                  if p.exists() and any(p == m or m in p.parents for m in masked))


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


def _opt_ml_mountpoint() -> list[str]:
    """/opt is read-only and has no ml/: lay a tmpfs over it and bring its entries back."""
    opt = Path("/opt")
    if (opt / "ml").is_dir():
        return []
    args = ["--tmpfs", "/opt"]
    for entry in sorted(opt.iterdir()) if opt.is_dir() else []:
        args += ["--ro-bind", str(entry), str(entry)]
    return args


#: Every sandboxed process is started from this one long-lived thread: bwrap's
#: --die-with-parent (PR_SET_PDEATHSIG) fires when the *thread* that forked it ends, so a
#: short-lived thread would take its processes down with it.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cove-spawner")


def _popen(command: list[str], env: dict[str, str], cwd: Path | None,
           stdout: IO[bytes] | int) -> subprocess.Popen[bytes]:
    try:
        return _SPAWNER.submit(
            subprocess.Popen, command, env=env, cwd=cwd, stdout=stdout,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True).result()  # its own process group, for stop
    except OSError as exc:
        raise errors.ServerError(f"cannot start {command[0]!r}: {exc}") from exc


def choose_sandbox(preference: str = "auto") -> Sandbox:
    """``auto``: bubblewrap if it is installed and works here, else a plain process."""
    if preference not in ("auto", "bwrap", "none"):
        raise errors.ServerError(f"COVE_SANDBOX must be auto, bwrap or none, not {preference!r}")
    if preference == "none":
        return PlainProcess()
    executable = shutil.which("bwrap")
    if executable and _works(executable):
        return Bubblewrap(executable)
    if preference == "bwrap":
        raise errors.ServerError("COVE_SANDBOX=bwrap but bubblewrap is missing or cannot "
                                 "create namespaces here: apt-get install bubblewrap")
    log.warning("bubblewrap (bwrap) is not available: jobs and functions run as plain "
                "processes that can read cove's data directory. apt-get install bubblewrap.")
    return PlainProcess()


def _works(executable: str) -> bool:
    probe = subprocess.run([executable, "--ro-bind", "/", "/", "--unshare-pid", "--dev", "/dev",
                            "--proc", "/proc", "true"], capture_output=True, timeout=30,
                           env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    return probe.returncode == 0

"""Sandbox networks: each is a user namespace and a network namespace held by a keeper process
(``_keeper.py``), joined by every sandboxed process of one job, worker, function or notebook.

The registry is a directory of small files, so processes on one machine that never met — a
multi-host job's hosts in different Ray workers — find the same network by its key:
``<key>.lock`` (held while joining or ending), ``<key>.lease`` (each member holds a shared lock
on it for as long as its sandbox runs; the keeper ends when it can take it exclusively) and
``<key>.keeper`` (the keeper's pid and the id of its thread inside the network namespace).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cove import errors

KEEPER = Path(__file__).with_name("_keeper.py")
#: Where the sandbox's uid and gid land on the machine when cove runs as root: ``nobody``,
#: which owns nothing.  Otherwise they are cove's own (an unprivileged user cannot map others).
UNPRIVILEGED = 65534
SANDBOX_ID = 1000  # the uid and gid inside


@dataclass(frozen=True)
class Membership:
    """One sandbox's place in a network; ``lease`` must stay open while the sandbox runs."""

    keeper: int
    thread: int
    lease: int

    def enter(self) -> list[str]:
        """The command prefix that runs the rest in the network's namespaces."""
        joined = [f"--user=/proc/{self.keeper}/ns/user"]
        if os.geteuid() != 0:
            # nsenter would setgroups() in the namespace, which an unprivileged keeper has
            # denied (it must, to map its gid): keep cove's uid, gid and groups as they are
            joined.append("--preserve-credentials")
        joined.append(f"--net=/proc/{self.keeper}/task/{self.thread}/ns/net")
        return ["nsenter", *joined, "--"]


def outer_ids() -> tuple[int, int]:
    """The machine uid and gid a sandboxed process runs as."""
    if os.geteuid() == 0:
        return UNPRIVILEGED, UNPRIVILEGED
    return os.geteuid(), os.getegid()


def registry() -> Path:
    path = Path(tempfile.gettempdir()) / f"cove-networks-{os.geteuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def registry_base(key: str, api_port: int) -> Path:
    """The registry files of a network, without their suffixes."""
    return registry() / hashlib.sha256(f"{key}|{api_port}".encode()).hexdigest()[:32]


def join(key: str, api_port: int, publish: tuple[int, ...] = (),
         spares: bool = True) -> Membership:
    """Join the network ``key`` (giving it a keeper if it has none: a spare one when there is,
    as starting one is most of a sandbox's start-up time).  ``spares=False``: the port is
    used once (a build's index proxy), so no spare is kept ready for it."""
    base = registry_base(key, api_port)
    plain = not publish and spares
    with _locked(base.with_suffix(".lock")):
        record = base.with_suffix(".keeper")
        found = _alive(record)
        if found is None:
            keeper = (_spare(api_port) if plain else None) or _start(api_port, publish)
            found = _claim(keeper, base)
        lease = os.open(base.with_suffix(".lease"), os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC,
                        0o600)
        fcntl.flock(lease, fcntl.LOCK_SH)
    if plain:
        threading.Thread(target=_refill, args=(api_port,), daemon=True,
                         name="cove-spare-keeper").start()
    return Membership(found[0], found[1], lease)


@dataclass
class _Keeper:
    proc: subprocess.Popen[bytes]
    thread: int


_spares: dict[int, _Keeper] = {}  # cove's API port -> a keeper of no network yet
_spares_lock = threading.Lock()


def _spare(api_port: int) -> _Keeper | None:
    with _spares_lock:
        keeper = _spares.pop(api_port, None)
    return keeper if keeper is not None and keeper.proc.poll() is None else None


def _refill(api_port: int) -> None:
    with _spares_lock:
        if api_port in _spares:
            return
        _spares[api_port] = _start(api_port, ())


def _claim(keeper: _Keeper, base: Path) -> tuple[int, int]:
    """Make ``keeper`` the one of the network at ``base``."""
    assert keeper.proc.stdin is not None
    base.with_suffix(".lease").touch(mode=0o600)
    base.with_suffix(".keeper").write_text(f"{keeper.proc.pid} {keeper.thread}\n")
    paths = [str(base.with_suffix(s)) for s in (".lease", ".lock", ".keeper")]
    keeper.proc.stdin.write((" ".join(paths) + "\n").encode())
    keeper.proc.stdin.close()
    return keeper.proc.pid, keeper.thread


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """The registry lock of one network.  A keeper removes it as it ends, so a lock taken on
    a file no longer at ``path`` is retried on the new one."""
    while True:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)


def _alive(record: Path) -> tuple[int, int] | None:
    try:
        pid, thread = map(int, record.read_text().split())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None  # no keeper, or it ended without cleaning up (killed)
    if str(KEEPER).encode() not in cmdline or not Path(f"/proc/{pid}/task/{thread}").exists():
        return None
    return pid, thread


def _start(api_port: int, publish: tuple[int, ...]) -> _Keeper:
    command = [sys.executable, "-I", "-S", str(KEEPER), "--api", str(api_port)]
    command += [arg for port in publish for arg in ("--publish", str(port))]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        _expect(proc, "user")
        _write_maps(proc.pid)
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        thread = int(_expect(proc, "ready"))
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.stdout.close()
    threading.Thread(target=_reap, args=(proc,), daemon=True, name="cove-keeper").start()
    return _Keeper(proc, thread)


def _expect(proc: subprocess.Popen[bytes], word: str) -> str:
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline().decode()
    if not line.startswith(word):
        proc.kill()
        reason = proc.stderr.read().decode(errors="replace").strip().splitlines()
        raise errors.ServerError("cannot create the sandbox's network namespace: "
                                 + (reason[-1] if reason else "its keeper ended"))
    return line.removeprefix(word).strip()


def _write_maps(pid: int) -> None:
    """As root: 0 is root (for bwrap's set-up only) and the sandbox's 1000 is nobody.  Else
    0 is cove's user, the only one an unprivileged parent may map (without setgroups)."""
    if os.geteuid() == 0:
        Path(f"/proc/{pid}/uid_map").write_text(f"0 0 1\n{SANDBOX_ID} {UNPRIVILEGED} 1\n")
        Path(f"/proc/{pid}/gid_map").write_text(f"0 0 1\n{SANDBOX_ID} {UNPRIVILEGED} 1\n")
        return
    Path(f"/proc/{pid}/setgroups").write_text("deny")
    Path(f"/proc/{pid}/uid_map").write_text(f"0 {os.geteuid()} 1\n")
    Path(f"/proc/{pid}/gid_map").write_text(f"0 {os.getegid()} 1\n")


def _reap(proc: subprocess.Popen[bytes]) -> None:
    proc.wait()
    assert proc.stderr is not None
    proc.stderr.close()

"""What a sandboxed process sees and may do: bubblewrap's arguments for one ``ProcessSpec``.

The process runs as uid/gid 1000 in a user namespace (on the machine: ``nobody`` when cove is
root, else cove's user), with no capabilities (and an empty bounding set), ``no_new_privs``
(bwrap sets it), the seccomp filter of ``_seccomp.py``, and its own PID, IPC, UTS, mount and
network namespaces (``_networks.py``).  Its
filesystem is a fresh tmpfs holding only, read-only: ``/usr`` and the ``/bin``, ``/lib*``
links, the few files of ``/etc`` programs read, the Python runtimes it needs (each at its own
path, nothing else of their parents), and what the spec grants; read-write: its job directory
at ``/opt/ml``, the spec's writable places, private ``/tmp``, ``/var/tmp`` and ``/run``, and
its own ``/lib`` (``_scratch.py``: links to the machine's libraries, beside which it may add
its own, as in a container).

Sources are passed as descriptors cove opened (``--ro-bind-fd``), so a path renamed between
the decision and the mount cannot redirect it.
"""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cove.executors import _seccomp

if TYPE_CHECKING:
    from cove.executors._sandbox import ProcessSpec

UID = GID = 1000
HOSTNAME = "sandbox"
#: The parts of /etc that programs read: the dynamic linker, TLS roots, name service switch,
#: time zone, the /usr/bin alternatives links, and pip's configuration (for builds).
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "ssl", "ca-certificates",
       "ca-certificates.conf", "nsswitch.conf", "host.conf", "gai.conf", "localtime",
       "timezone", "mime.types", "alternatives", "protocols", "services", "os-release",
       "pip.conf", "xdg/pip", "matplotlibrc")
SYSTEM_TOP = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


class Confinement:
    """bwrap's arguments for ``spec``, and the descriptors they name (close them after the
    spawn: the child has its copies)."""

    def __init__(self, spec: ProcessSpec, lib: Path | None = None) -> None:
        self.spec = spec
        #: The sandbox's own /lib (``_scratch.py``), or None to show the machine's read-only.
        self.lib = lib
        self.fds: list[int] = []
        self.made: set[str] = {"/"}

    def build(self) -> list[str]:
        spec = self.spec
        args = _identity() + [
                "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", HOSTNAME,
                "--die-with-parent", "--proc", "/proc", "--dev", "/dev"]
        for place in ("/tmp", "/var/tmp", "/dev/shm"):
            # world-writable and sticky, as in a container: the code runs as uid 1000 and the
            # tmpfs would otherwise belong to the namespace's root; memory, so bounded
            size = ["--size", str(spec.quota.memory_bytes)] if spec.quota else []
            args += ["--perms", "1777", *size, "--tmpfs", place]
        args += ["--tmpfs", "/run", *self._system(), *self._etc()]
        for path in _nested_out(runtime_paths(spec.command[0] if spec.command else "")
                                + [Path(p) for p in spec.readonly]):
            args += self._bind(path, str(path), writable=False)
        for path in spec.writable:
            args += self._bind(path, str(path), writable=True)
        args += self._bind(spec.job_dir, "/opt/ml", writable=True)
        for source, inside in spec.mounts:
            args += self._bind(source, f"/opt/ml/{inside}", writable=False)
        args += ["--seccomp", str(self._data(_seccomp.program()))]
        limits = spec.quota.prefix() if spec.quota else []
        return [*args, "--chdir", str(spec.cwd), "--", *_become_user(), *limits, *spec.command]

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()

    def _system(self) -> list[str]:
        args = self._bind(Path("/usr"), "/usr", writable=False)
        for name in SYSTEM_TOP:
            path = Path("/") / name
            if name == "lib" and self.lib is not None:
                args += self._bind(self.lib, "/lib", writable=True)
            elif path.is_symlink():
                args += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                args += self._bind(path, str(path), writable=False)
        return args

    def _etc(self) -> list[str]:
        args: list[str] = []
        for name in ETC:
            path = Path("/etc") / name
            if path.exists():
                args += self._bind(path, str(path), writable=False)
        hosts = "".join(f"{address} {name}\n" for name, address in self.spec.hosts.items())
        files = {"/etc/passwd": f"root:x:0:0:root:/root:/bin/sh\nsandbox:x:{UID}:{GID}:"
                                "sandbox:/opt/ml:/bin/sh\nnobody:x:65534:65534:nobody:"
                                "/nonexistent:/usr/sbin/nologin\n",
                 "/etc/group": f"root:x:0:\nsandbox:x:{GID}:\nnogroup:x:65534:\n",
                 "/etc/hostname": f"{HOSTNAME}\n",
                 "/etc/hosts": f"127.0.0.1 localhost {HOSTNAME}\n::1 localhost\n" + hosts}
        for inside, text in files.items():
            args += ["--perms", "0644", "--ro-bind-data", str(self._data(text.encode())),
                     inside]
        return args

    def _bind(self, source: Path, inside: str, writable: bool) -> list[str]:
        fd = os.open(source, os.O_PATH | os.O_CLOEXEC)
        self.fds.append(fd)
        return [*self._parents(inside), "--bind-fd" if writable else "--ro-bind-fd", str(fd),
                inside]

    def _parents(self, inside: str) -> list[str]:
        """Traversable directories above a mount point (bwrap would copy /root's 0700)."""
        args: list[str] = []
        for parent in reversed(Path(inside).parents):
            if str(parent) not in self.made:
                self.made.add(str(parent))
                args += ["--perms", "0755", "--dir", str(parent)]
        return args

    def _data(self, data: bytes) -> int:
        fd = os.memfd_create("cove-sandbox")  # close-on-exec unless passed
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
        self.fds.append(fd)
        return fd


def _identity() -> list[str]:
    """How the process gets its uid.  As an unprivileged user, bwrap makes a user namespace
    mapping 1000 to cove's uid.  As root, the network's user namespace already maps 0 to root
    (so bwrap can reach what it binds, under /root for instance) and 1000 to nobody: bwrap keeps
    only the rights to change uid and to enter the working directory, and ``setpriv`` becomes
1000 for good (which clears every capability, the bounding set included)."""
    if os.geteuid() != 0:
        return ["--unshare-user", "--uid", str(UID), "--gid", str(GID), "--cap-drop", "ALL"]
    return ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
            "--cap-add", "CAP_SETPCAP",
            "--cap-add", "CAP_DAC_READ_SEARCH"]  # to --chdir into nobody's job directory


def _become_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={UID}", f"--regid={GID}", "--clear-groups",
            "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--"]


def runtime_paths(executable: str) -> list[Path]:
    """The Python installations a process needs: cove's (its virtualenv, base interpreter,
    site-packages and source) and the one ``executable`` belongs to, if it is a Python."""
    import cove

    paths = {Path(sys.prefix), Path(sys.base_prefix), *map(Path, site.getsitepackages()),
             Path(cove.__file__).resolve().parent.parent}
    program = Path(executable)
    if program.is_absolute() and program.parent.name == "bin":
        paths |= _installation(program.parent.parent)
    return sorted(p for p in paths if p.exists() and p != Path("/") and not _is_system(p))


def _installation(root: Path) -> set[Path]:
    """A virtualenv's directory and the base interpreter it names in pyvenv.cfg."""
    paths = {root}
    try:
        lines = (root / "pyvenv.cfg").read_text().splitlines()
    except OSError:
        return paths  # not a virtualenv: the directory is the installation
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            paths.add(Path(value.strip()).parent)
    return paths


def _is_system(path: Path) -> bool:
    """Inside /usr (bound whole already)."""
    return path == Path("/usr") or Path("/usr") in path.parents


def _nested_out(paths: list[Path]) -> list[Path]:
    """Each path once, without those inside another (bound with it)."""
    kept: list[Path] = []
    for path in sorted({p.absolute() for p in paths if p.exists()}):
        if not any(k == path or k in path.parents for k in kept):
            kept.append(path)
    return kept

"""What one sandbox may use: the memory and processes of its instance type, and file sizes.

A SageMaker container is bounded by its instance.  cove bounds a sandbox without cgroups
(which an unprivileged cove, or one in a container, rarely may write), in two layers:

* **The kernel's limits** (``prlimit`` before the user's command, inherited by everything it
  starts): ``RLIMIT_NPROC`` at twice the process count (it counts the tasks of the sandbox's
  user namespace: a fork bomb stops there), ``RLIMIT_DATA`` at twice the memory (one process
  allocating far beyond the instance fails at once with ``MemoryError``/``ENOMEM``), and
  ``RLIMIT_FSIZE`` (a larger file fails to write with ``EFBIG``, "File too large").
* **A watch** (one thread per sandbox) that samples the sandbox's processes every
  :data:`INTERVAL` seconds, as a container's OOM killer would: when their memory (proportional
  set size of anonymous and shared memory, so forked workers are not counted twice) passes
  the instance's, or their tasks (processes and threads) reach the process count, it kills the
  sandbox and records why (:func:`exceeded`), for the job's FailureReason.  The watch runs in
  cove's server process, beside the request path, so a sample is cheap: the kernel's resident
  counters (``/proc/PID/status``, kept as pages are mapped) bound the proportional size from
  above, and only a sandbox whose bound nears its memory (:data:`PRECISE_ABOVE`) has its page
  tables walked for the exact figure (``smaps_rollup``: ~4 ms per sample of a model server,
  against ~20 µs).

Memory in the sandbox's ``/tmp``, ``/var/tmp`` and ``/dev/shm`` (tmpfs) is bounded by their
size (the instance's memory each), not counted by the watch.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

from cove.executors._resources import GIB, instance_resources

INTERVAL = 0.25
#: The share of its memory above which a sandbox's resident bound is not enough and its exact
#: proportional size is measured (the bound may lag the kernel's per-CPU counts a little).
PRECISE_ABOVE = 0.75
#: Tasks (processes and threads) per vCPU of the instance type.
TASKS_PER_CPU = 256
#: The largest file a sandboxed process may write.
FILE_BYTES = 100 * GIB


@dataclass(frozen=True)
class Quota:
    """The bounds of one sandbox, named after what sets them (an instance type)."""

    instance_type: str
    memory_bytes: int
    tasks: int
    file_bytes: int = FILE_BYTES

    def prefix(self) -> list[str]:
        """The command prefix that sets the kernel's limits for the rest."""
        return ["prlimit", f"--nproc={2 * self.tasks}", f"--data={2 * self.memory_bytes}",
                f"--fsize={self.file_bytes}", "--"]

    def describe(self) -> str:
        return f"{self.instance_type} ({self.memory_bytes / GIB:g} GiB)"


def quota_for(instance_type: str) -> Quota:
    """The quota of one host (or model worker) of ``instance_type``."""
    resources = instance_resources(instance_type)
    return Quota(instance_type, resources.memory_bytes,
                 TASKS_PER_CPU * max(1, int(resources.cpus)))


_verdicts: weakref.WeakKeyDictionary[subprocess.Popen[bytes], str] = (
    weakref.WeakKeyDictionary())


def exceeded(proc: subprocess.Popen[bytes]) -> str:
    """Why the watch killed ``proc``'s sandbox ("" if it did not)."""
    return _verdicts.get(proc, "")


def watch(proc: subprocess.Popen[bytes], quota: Quota) -> None:
    """Watch ``proc``'s sandbox until it ends, killing it if it passes ``quota``."""
    threading.Thread(target=_watch, args=(proc, quota), daemon=True,
                     name=f"cove-quota-{proc.pid}").start()


def _watch(proc: subprocess.Popen[bytes], quota: Quota) -> None:
    from cove.executors._sandbox import kill

    while proc.poll() is None:
        verdict = check(proc.pid, quota)
        if verdict:
            _verdicts[proc] = verdict
            kill(proc)
            return
        time.sleep(INTERVAL)


def check(root: int, quota: Quota) -> str:
    """Why ``root`` and its descendants pass ``quota`` now ("" if they do not)."""
    tree = _tree(root)
    tasks = sum(threads for _, threads in tree)
    if tasks < quota.tasks and \
            sum(_resident(pid) for pid, _ in tree) <= PRECISE_ABOVE * quota.memory_bytes:
        return ""  # resident >= proportional: well inside, without walking page tables
    return _verdict(quota, tasks, sum(_memory(pid) for pid, _ in tree))


def _verdict(quota: Quota, tasks: int, memory: int) -> str:
    if memory > quota.memory_bytes:
        return (f"the processes exceeded the memory of {quota.describe()}: they used "
                f"{memory / GIB:.2f} GiB. Use a larger instance type, or less memory")
    if tasks >= quota.tasks:
        return (f"the processes exceeded the process limit of {quota.instance_type} "
                f"({quota.tasks} processes and threads; a fork bomb?)")
    return ""


def measure(root: int) -> tuple[int, int]:
    """(tasks, memory bytes) of ``root`` and all its descendants, as /proc says now."""
    tree = _tree(root)
    return sum(threads for _, threads in tree), sum(_memory(pid) for pid, _ in tree)


def _tree(root: int) -> list[tuple[int, int]]:
    """(pid, threads) of ``root`` and all its descendants."""
    found: list[tuple[int, int]] = []
    pending = [root]
    while pending:
        pid = pending.pop()
        try:
            threads = os.listdir(f"/proc/{pid}/task")
            for tid in threads:  # each thread's children: a fork from any thread counts
                pending += map(int, Path(f"/proc/{pid}/task/{tid}/children").read_text()
                               .split())
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended while being counted
        found.append((pid, len(threads)))
    return found


def _resident(pid: int) -> int:
    """Resident anonymous and shared memory, whole (an upper bound of :func:`_memory`)."""
    resident = _proc_kib(pid, "status", (b"RssAnon:", b"RssShmem:"))
    return _memory(pid) if resident is None else resident  # no bound to read: the exact figure


def _memory(pid: int) -> int:
    """Anonymous and shared memory, proportional (pages shared by N processes count 1/N)."""
    # unreadable: bwrap's own, set-up processes, not the user's memory
    return _proc_kib(pid, "smaps_rollup", (b"Pss_Anon:", b"Pss_Shmem:")) or 0


def _proc_kib(pid: int, name: str, fields: tuple[bytes, ...]) -> int | None:
    """The sum, in bytes, of ``fields`` (kB lines) of ``/proc/<pid>/<name>``: 0 for a process
    that ended, None for one cove may not read."""
    try:
        lines = Path(f"/proc/{pid}/{name}").read_bytes().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    except PermissionError:
        return None
    return sum(int(line.split()[1]) * 1024 for line in lines if line.startswith(fields))

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
  sandbox and records why (:func:`exceeded`), for the job's FailureReason.

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
        tasks, memory = measure(proc.pid)
        verdict = _verdict(quota, tasks, memory)
        if verdict:
            _verdicts[proc] = verdict
            kill(proc)
            return
        time.sleep(INTERVAL)


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
    tasks = memory = 0
    pending = [root]
    while pending:
        pid = pending.pop()
        try:
            threads = os.listdir(f"/proc/{pid}/task")
            memory += _memory(pid)
            for tid in threads:  # each thread's children: a fork from any thread counts
                pending += map(int, Path(f"/proc/{pid}/task/{tid}/children").read_text()
                               .split())
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended while being counted
        tasks += len(threads)
    return tasks, memory


def _memory(pid: int) -> int:
    """Anonymous and shared memory, proportional (pages shared by N processes count 1/N)."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_bytes().splitlines()
    except PermissionError:
        return 0  # bwrap's own, set-up processes: not the user's memory
    return sum(int(line.split()[1]) * 1024 for line in lines
               if line.startswith((b"Pss_Anon:", b"Pss_Shmem:")))

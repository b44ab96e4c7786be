"""Warm function workers and the pool that bounds them.

A worker is ``_runtime.py`` in the sandbox (the same one training jobs and model workers use),
its code mounted read-only at ``/opt/ml/task``, answering framed JSON on a Unix socket in its
own directory.  It serves one invocation at a time and stays warm for the next one of the same
function revision.  Everything here runs on the server's event loop: no locks.

Concurrency (``COVE_FUNCTION_CONCURRENCY``) bounds the invocations in flight across all
functions, as Lambda's account concurrency does.  A synchronous invocation beyond it fails at
once with TooManyRequestsException (Lambda's answer; boto3 retries it with back-off); an
asynchronous one (``Event``) waits for a slot, as Lambda's internal queue does.  The pool keeps at
most that many processes: starting a worker past it first ends the longest-idle one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cove import errors
from cove.executors import ProcessSpec, Sandbox, kill

log = logging.getLogger("cove.functions")

_HEADER = struct.Struct(">I")
RUNTIME = Path(__file__).with_name("_runtime.py")
#: How long a worker may take to start and import its handler.  Lambda's init phase allows
#: 10 s on a machine of its own; here the time also covers the sandbox's and the interpreter's
#: start on a shared machine, which a loaded 2-core machine can stretch past 10 s.
INIT_TIMEOUT = 60.0


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker of one function revision needs."""

    key: str  # function name and revision: workers are reused only within one
    code_dir: Path
    environment: dict[str, str]  # complete: the worker sees nothing else
    root: Path  # where worker directories go
    hidden: tuple[Path, ...]


class WorkerDied(Exception):
    """The runtime process ended (or timed out) in the middle of an invocation."""


@dataclass
class Worker:
    spec: WorkerSpec
    directory: Path
    proc: subprocess.Popen[bytes]
    directory_fd: int
    stream: str  # its log stream, as Lambda names one per execution environment
    started: float = field(default_factory=time.monotonic)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    idle_since: float = field(default_factory=time.monotonic)

    async def connect(self) -> None:
        """Wait for the runtime to listen (it binds once the handler is imported)."""
        path = f"/proc/self/fd/{self.directory_fd}/{self.directory.name}.sock"
        deadline = time.monotonic() + INIT_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise WorkerDied(f"Runtime exited with error: exit status {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise WorkerDied(f"the runtime did not start within {INIT_TIMEOUT:.0f} s")
            try:  # the socket file appears at bind(), a moment before listen()
                self.reader, self.writer = await asyncio.open_unix_connection(
                    path, limit=1 << 24)
                return
            except (FileNotFoundError, ConnectionRefusedError):
                await asyncio.sleep(0.002)

    async def invoke(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.reader is not None and self.writer is not None
        data = json.dumps(request).encode()
        self.writer.write(_HEADER.pack(len(data)) + data)
        try:
            head = await asyncio.wait_for(self.reader.readexactly(_HEADER.size), timeout)
            (size,) = _HEADER.unpack(head)
            answer: dict[str, Any] = json.loads(await self.reader.readexactly(size))
            return answer
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            code = await asyncio.to_thread(self._exit_code)
            raise WorkerDied(f"Runtime exited with error: {code}") from exc

    def _exit_code(self) -> str:
        try:
            code = self.proc.wait(2)
        except subprocess.TimeoutExpired:
            return "connection lost"
        return f"signal: {_signal_name(-code)}" if code < 0 else f"exit status {code}"

    def stop(self) -> None:
        if self.writer is not None:
            self.writer.close()
        kill(self.proc)
        if self.directory_fd >= 0:
            os.close(self.directory_fd)
            self.directory_fd = -1
        threading.Thread(target=self._reap, daemon=True).start()

    def _reap(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.with_suffix(".sock").unlink(missing_ok=True)


def _bound(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
    except OSError:
        listener.close()
        raise
    return listener


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name.removeprefix("SIG").lower()
    except ValueError:
        return str(number)


class Pool:
    """Warm workers per function revision, and the concurrency limit over all of them."""

    def __init__(self, sandbox: Sandbox, limit: int,
                 log_lines: Callable[[str, str, list[str]], None]) -> None:
        self.sandbox = sandbox
        self.limit = max(1, limit)
        self.log_lines = log_lines  # (function key, stream, lines): a worker's stray output
        self.busy = 0
        self.idle: dict[str, list[Worker]] = {}
        #: When the workers under a key prefix were last retired: busy ones started before
        #: then are ended when they come back instead of waiting idle forever.
        self._retired: dict[str, float] = {}
        self._slots = asyncio.Condition()

    def total(self) -> int:
        return self.busy + sum(len(ws) for ws in self.idle.values())

    async def acquire(self, wait: bool) -> None:
        """Take an invocation slot; without ``wait`` a full pool raises TooManyRequests."""
        if self.busy >= self.limit and not wait:
            raise errors.TooManyRequests(
                "Rate Exceeded.", Reason="ConcurrentInvocationLimitExceeded")
        async with self._slots:
            await self._slots.wait_for(lambda: self.busy < self.limit)
            self.busy += 1

    async def release(self) -> None:
        async with self._slots:
            self.busy -= 1
            self._slots.notify()

    async def checkout(self, spec: WorkerSpec) -> tuple[Worker, bool]:
        """A warm worker of ``spec.key`` (False) or a newly started one (True: cold)."""
        warm = self.idle.get(spec.key)
        if warm:
            return warm.pop(), False
        if self.total() > self.limit:
            self._evict_one()
        return await self._start(spec), True

    def checkin(self, worker: Worker) -> None:
        name = worker.spec.key.split("\0", 1)[0] + "\0"
        if worker.started < max(self._retired.get(name, 0.0), self._retired.get("", 0.0)):
            worker.stop()
            return
        worker.idle_since = time.monotonic()
        self.idle.setdefault(worker.spec.key, []).append(worker)

    def retire(self, prefix: str) -> None:
        """End the idle workers of every key starting with ``prefix`` (updated code), and the
        busy ones when they finish."""
        self._retired[prefix] = time.monotonic()
        for key in [k for k in self.idle if k.startswith(prefix)]:
            for worker in self.idle.pop(key):
                worker.stop()

    def shutdown(self) -> None:
        self.retire("")

    def _evict_one(self) -> None:
        candidates = [(w.idle_since, key, w) for key, ws in self.idle.items() for w in ws]
        if candidates:
            _, key, worker = min(candidates, key=lambda c: c[0])
            self.idle[key].remove(worker)
            worker.stop()

    async def _start(self, spec: WorkerSpec) -> Worker:
        directory = spec.root / uuid.uuid4().hex[:12]
        (directory / "task").mkdir(parents=True)
        inside = self.sandbox.mounts_opt_ml
        task = "/opt/ml/task" if inside else str(spec.code_dir)
        stream = time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()) + uuid.uuid4().hex
        env = {**spec.environment, "LAMBDA_TASK_ROOT": task, "AWS_LAMBDA_LOG_STREAM_NAME": stream}
        # cove binds the runtime's socket beside (not in) its directory and passes it in: the
        # runtime cannot replace it with a link to another function's socket.
        fd = os.open(spec.root, os.O_RDONLY | os.O_DIRECTORY)
        with _bound(f"/proc/self/fd/{fd}/{directory.name}.sock") as listener:
            process = ProcessSpec([sys.executable, str(RUNTIME), f"fd:{listener.fileno()}"],
                                  env, directory, Path(task), spec.hidden, (), {},
                                  ((spec.code_dir, "task"),), fds=(listener.fileno(),))
            try:
                proc = await asyncio.to_thread(self.sandbox.spawn, process, subprocess.PIPE)
            except BaseException:
                os.close(fd)
                raise
        worker = Worker(spec, directory, proc, fd, stream)
        threading.Thread(target=self._drain, args=(worker,), daemon=True,
                         name="cove-function-output").start()
        try:
            await worker.connect()
        except OSError as exc:
            worker.stop()
            raise WorkerDied(f"the runtime could not be reached: {exc}") from exc
        except WorkerDied:
            worker.stop()
            raise
        return worker

    def _drain(self, worker: Worker) -> None:
        """Output outside invocations (a crash's traceback, C-level prints) to the log."""
        assert worker.proc.stdout is not None
        for raw in worker.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.log_lines(worker.spec.key, worker.stream, [line])

"""A fleet: the model-server worker processes of one production variant.

Each worker is ``python -m cove.serving.worker`` in the sandbox, answering on a Unix socket
cove bound for it, outside anything the worker can see.  A worker counts as ready only once it
answers ``GET /ping``; one that dies is restarted (again and again, backing off, if its model
will not load), and requests that were on it are retried elsewhere by the router.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cove import errors
from cove.executors import (
    Event,
    Executor,
    HostLost,
    HostRun,
    ProcessSpec,
    Sandbox,
    exceeded,
    instance_resources,
    kill,
    quota_for,
)
from cove.hosting._remote import RemoteWorkerWork, pack, worker_failure
from cove.hosting._transport import WorkerClient
from cove.serving._http import tcp_address
from cove.training._contract import base_environment

log = logging.getLogger("cove.hosting")

START_TIMEOUT = 120.0
TAIL_LINES = 5
RESTART_BACKOFF_LIMIT = 60.0  # a worker that cannot be restarted is tried again, at most this apart


class FleetFailed(errors.ClientError):
    """The workers could not start; the message says why (shown as FailureReason)."""

    code = "FleetFailed"


@dataclass(frozen=True)
class FleetSpec:
    endpoint: str
    variant: str
    runtime: str  # xgboost | linear-learner | sklearn | pytorch
    model_dir: Path
    code_dir: Path | None
    entry_point: str
    environment: dict[str, str]
    root: Path  # where the workers' directories go
    hidden: tuple[Path, ...]
    #: The interpreter: cove's own, or a cached environment with the code's requirements.txt.
    python: str = sys.executable
    readonly: tuple[Path, ...] = ()  # directories inside hidden ones the worker reads (envs)
    #: What each worker asks of a cluster (the Ray executor); ignored locally.
    instance_type: str = "ml.m5.large"


@dataclass
class Worker:
    index: int
    directory: Path
    client: WorkerClient
    proc: subprocess.Popen[bytes] | None = None
    ready: bool = False
    in_flight: int = 0
    started: float = field(default_factory=time.time)
    directory_fd: int = -1
    run: HostRun | None = None  # a worker on a Ray node
    failure: str = ""  # why a remote worker could not load its model
    #: The last lines the local worker printed, and whether its output has been read to the
    #: end: a worker that dies before writing its failure file (the sandbox refused to start
    #: it, an import crashed) is explained by them.
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    drained: threading.Event = field(default_factory=threading.Event)

    @property
    def socket(self) -> Path:
        return Path(self.client.socket_path)


class Fleet:
    """The workers of one variant.  With an executor that does not share cove's disk (Ray),
    each worker runs as that executor's work on a node and serves over TCP on loopback; the
    router cannot tell the difference."""

    def __init__(self, spec: FleetSpec, sandbox: Sandbox,
                 log_lines: Callable[[int, list[str]], None],
                 executor: Executor | None = None,
                 on_stop: Callable[[], None] | None = None) -> None:
        self.spec, self.sandbox = spec, sandbox
        #: (worker index, lines): what a worker printed, and cove's lines about it
        self.log_lines = log_lines
        #: Called once the workers are gone (their keys die with them).
        self.on_stop = on_stop
        self.executor = executor if executor is not None and not executor.shares_disk else None
        self._archive: bytes | None = None
        self.workers: list[Worker] = []
        self._turn = itertools.count()
        self._active = True
        self._lock = threading.Lock()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self, count: int) -> None:
        """Start ``count`` workers and wait until each answers /ping (FleetFailed if not)."""
        self.spec.root.mkdir(parents=True, exist_ok=True)
        new = [self._new_worker(len(self.workers) + i) for i in range(count)]
        with self._lock:
            self.workers.extend(new)
        try:
            for worker in new:
                self._spawn(worker)
            for worker in new:
                self._wait_ready(worker)
        except FleetFailed:
            self.stop()
            raise

    def scale(self, count: int) -> None:
        with self._lock:
            extra = self.workers[count:]
            self.workers = self.workers[:count]
        for worker in extra:
            self._terminate(worker)
        if count > len(self.workers):
            self.start(count - len(self.workers))

    def stop(self, drain_seconds: float = 0.0) -> None:
        """Stop every worker, after in-flight requests finish (up to ``drain_seconds``)."""
        deadline = time.monotonic() + drain_seconds
        while drain_seconds and time.monotonic() < deadline and self.in_flight():
            time.sleep(0.01)
        with self._lock:
            self._active = False
            workers, self.workers = self.workers, []
        for worker in workers:
            self._terminate(worker)
        if self.on_stop is not None:
            self.on_stop()
        shutil.rmtree(self.spec.root, ignore_errors=True)

    def in_flight(self) -> int:
        return sum(w.in_flight for w in self.workers)

    def ready_workers(self) -> list[Worker]:
        return [w for w in self.workers if w.ready]

    def pick(self, exclude: Worker | None = None) -> Worker | None:
        """The ready worker with the fewest requests outstanding, round-robin among equals."""
        workers = self.workers
        count = len(workers)
        start = next(self._turn)
        best: Worker | None = None
        for offset in range(count):
            worker = workers[(start + offset) % count]
            if worker.ready and worker is not exclude and (
                    best is None or worker.in_flight < best.in_flight):
                best = worker
        return best

    # --- workers ----------------------------------------------------------------------------

    def _new_worker(self, index: int) -> Worker:
        directory = self.spec.root / f"worker-{index}"
        shutil.rmtree(directory, ignore_errors=True)
        (directory / "model").mkdir(parents=True)
        (directory / "code").mkdir()
        # The socket is cove's, in a directory the worker does not see: cove binds it and
        # passes it in, so no path the worker could replace (with a link to another worker's
        # socket) is ever connected to.  A socket path is limited to 108 bytes and homes can
        # be deep: reach it through a directory descriptor (/proc/self/fd/N/...) instead.
        sockets = self.spec.root / "sockets"
        sockets.mkdir(mode=0o700, exist_ok=True)
        handle = os.open(sockets, os.O_RDONLY | os.O_DIRECTORY)
        return Worker(index, directory,
                      WorkerClient(f"/proc/self/fd/{handle}/worker-{index}.sock"),
                      directory_fd=handle)

    def _spawn(self, worker: Worker) -> None:
        if self.executor is not None:
            self._spawn_remote(worker, self.executor)
            return
        (worker.directory / "failure").unlink(missing_ok=True)
        listener = _bind(worker.socket)
        inside = self.sandbox.mounts_opt_ml
        root = Path("/opt/ml") if inside else worker.directory
        model = root / "model" if inside else self.spec.model_dir
        code = (root / "code" if inside else self.spec.code_dir) if self.spec.code_dir else None
        command = [self.spec.python, "-m", "cove.serving.worker", "--socket",
                   f"fd:{listener.fileno()}", "--model-dir", str(model), "--runtime",
                   self.spec.runtime, "--failure-file", str(root / "failure")]
        if code is not None:
            command += ["--code-dir", str(code), "--entry-point", self.spec.entry_point]
        mounts = [(self.spec.model_dir, "model")]
        if self.spec.code_dir:
            mounts.append((self.spec.code_dir, "code"))
        spec = ProcessSpec(command, base_environment(dict(self.spec.environment)),
                           worker.directory, root, self.spec.hidden, self.spec.readonly, {},
                           tuple(mounts), fds=(listener.fileno(),),
                           quota=quota_for(self.spec.instance_type))
        worker.tail.clear()
        worker.drained.clear()
        with listener:  # the worker has its copy: a dead worker's socket refuses connections
            worker.proc = self.sandbox.spawn(spec, subprocess.PIPE)
        worker.ready, worker.started = False, time.time()
        threading.Thread(target=self._supervise, args=(worker, worker.proc), daemon=True,
                         name=f"cove-worker-{self.spec.endpoint}-{worker.index}").start()

    def _spawn_remote(self, worker: Worker, executor: Executor) -> None:
        if self._archive is None:
            self._archive = pack(self.spec.model_dir, self.spec.code_dir)
        work = RemoteWorkerWork(
            f"{self.spec.endpoint}-{self.spec.variant}-{worker.index}", self.spec.runtime,
            self._archive, self.spec.code_dir is not None, self.spec.entry_point,
            dict(self.spec.environment), self.sandbox.name, self.spec.hidden)
        worker.ready, worker.started, worker.failure = False, time.time(), ""
        worker.client = WorkerClient("")  # until the worker says where it listens
        worker.run = executor.start(work, instance_resources(self.spec.instance_type),
                                    self._remote_events(worker), lasting=True)
        threading.Thread(target=self._supervise_remote, args=(worker, worker.run), daemon=True,
                         name=f"cove-worker-{self.spec.endpoint}-{worker.index}").start()

    def _remote_events(self, worker: Worker) -> Callable[[Event], None]:
        def replay(event: Event) -> None:
            name, args = event
            if name == "listening":
                worker.client = WorkerClient(args[0])
            elif name == "log":
                self.log_lines(worker.index, args[0])
            elif name == "failure":
                worker.failure = args[0]
            elif name == "placed":
                self.log_lines(worker.index, [f"cove: worker placed on {args[0]}"])
        return replay

    def _supervise_remote(self, worker: Worker, run: HostRun) -> None:
        try:
            code: int | str = run.result()
        except HostLost as exc:
            code = f"lost with {exc.node} ({exc.detail})"
        if run is worker.run:
            self._restart(worker, code)

    def _wait_ready(self, worker: Worker) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            proc, run = worker.proc, worker.run
            if proc is not None and proc.poll() is not None:
                raise FleetFailed(self._failure(worker, proc.returncode))
            if run is not None and run.done():
                raise FleetFailed(f"variant {self.spec.variant}: " + (
                    worker.failure or "the model worker ended before it was ready"))
            if _ping(worker.client.socket_path):
                worker.ready = True
                return
            time.sleep(0.01)
        raise FleetFailed(f"variant {self.spec.variant}: the model worker did not answer /ping "
                          f"within {START_TIMEOUT:.0f} s")

    def _failure(self, worker: Worker, code: int) -> str:
        over = exceeded(worker.proc) if worker.proc is not None else ""
        if over:
            return f"variant {self.spec.variant}: the model worker was stopped: {over}"
        reason = worker_failure(worker.directory, lambda line: self.log_lines(worker.index, [line]))
        if reason:
            return f"variant {self.spec.variant}: {reason}"
        worker.drained.wait(5)  # its last words are still in the pipe
        said = " | ".join(worker.tail)
        return (f"variant {self.spec.variant}: the model worker exited with code {code} before "
                f"it was ready" + (f"; its last output: {said}" if said else ""))

    def _supervise(self, worker: Worker, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for lines in line_batches(proc.stdout.fileno()):
            worker.tail.extend(line[:300] for line in lines)
            self.log_lines(worker.index, lines)
        worker.drained.set()
        self._restart(worker, proc.wait())

    def _restart(self, worker: Worker, code: int | str) -> None:
        """A worker that was serving ended: start it again until it serves (or is unwanted)."""
        with self._lock:
            restart = self._active and worker in self.workers and worker.ready
        if not restart:
            return
        worker.ready = False
        how = f"exited with code {code}" if isinstance(code, int) else f"was {code}"
        over = exceeded(worker.proc) if worker.proc is not None else ""
        how = f"was stopped: {over}" if over else how
        self.log_lines(worker.index, [f"cove: worker {how}; restarting it"])
        log.warning("endpoint %s variant %s: worker %d exited (%s); restarting",
                    self.spec.endpoint, self.spec.variant, worker.index, code)
        delay = 1.0
        while True:  # until it serves again, or the fleet no longer wants it
            try:
                self._spawn(worker)
                self._wait_ready(worker)
                return
            except (errors.CoveError, OSError) as exc:
                reason = exc.message if isinstance(exc, errors.CoveError) else str(exc)
                self.log_lines(worker.index, [
                    f"cove: the worker could not be restarted ({reason}); "
                    f"trying again in {delay:.0f} s"])
                self._stop_worker(worker)
            time.sleep(delay)
            delay = min(2 * delay, RESTART_BACKOFF_LIMIT)
            with self._lock:
                if not (self._active and worker in self.workers):
                    return

    def _terminate(self, worker: Worker) -> None:
        worker.ready = False
        worker.client.close()
        if worker.directory_fd >= 0:
            os.close(worker.directory_fd)
            worker.directory_fd = -1
        self._stop_worker(worker)

    def _stop_worker(self, worker: Worker) -> None:
        if worker.run is not None:
            worker.run.stop("the fleet no longer needs it")
        self._stop_process(worker.proc)

    def _stop_process(self, proc: subprocess.Popen[bytes] | None) -> None:
        if proc is None or proc.poll() is not None:
            return
        self.sandbox.terminate(proc)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            kill(proc)
            proc.wait(5)


def line_batches(fd: int, longest: int = 1 << 16) -> Iterator[list[str]]:
    """A process's output as lists of lines, as much as each read returns: a model that prints
    on every request has its lines logged a batch per transaction, not one each (each would
    hold the database and cove's event loop).  A line longer than ``longest`` bytes comes in
    pieces; a last line without a newline comes at the end."""
    partial = b""
    while chunk := os.read(fd, 1 << 16):
        pieces = (partial + chunk).split(b"\n")
        partial = pieces.pop()
        while len(partial) > longest:
            pieces.append(partial[:longest])
            partial = partial[longest:]
        if pieces:
            yield [piece.decode("utf-8", "replace").rstrip("\r") for piece in pieces]
    if partial:
        yield [partial.decode("utf-8", "replace")]


def _bind(path: Path) -> socket.socket:
    """A Unix socket bound at ``path`` (replacing a dead worker's), not yet listening: until
    the worker has loaded its model and listens, connecting to it is refused."""
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
    except OSError:
        listener.close()
        raise
    return listener


def _ping(address: str) -> bool:
    """GET /ping over the worker's socket (or TCP address), synchronously (while starting)."""
    tcp = tcp_address(address)
    if not address or (tcp is None and not Path(address).exists()):
        return False
    try:
        with socket.socket(socket.AF_INET if tcp else socket.AF_UNIX,
                           socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(tcp or address)
            sock.sendall(b"GET /ping HTTP/1.1\r\nhost: worker\r\nconnection: close\r\n\r\n")
            reply = sock.recv(64)
        return reply.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


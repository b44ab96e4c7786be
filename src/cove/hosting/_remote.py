"""A model-server worker on another machine (a Ray node): the same ``cove.serving.worker``
process, in that machine's sandbox, listening on TCP 127.0.0.1:<free port> instead of a Unix
socket.  The model (and the inference code) travel with the work as one tar archive, so
nothing assumes the node sees cove's disk.

The work reports ``("listening", (address,))`` once the process is started, its output as
``("log", (lines,))``, and returns its exit code when the process ends.
"""

from __future__ import annotations

import io
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from cove.executors import Event, ProcessSpec, Sandbox, choose_sandbox, kill
from cove.training._contract import base_environment
from cove.untrusted import Unsafe, read_capped

STOP_GRACE = 5.0
#: SageMaker's cap on a FailureReason; a worker's failure file is read this far
FAILURE_LIMIT = 1024


def pack(model_dir: Path, code_dir: Path | None) -> bytes:
    """``model/`` and ``code/`` of a worker as one uncompressed tar (it stays on loopback)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(model_dir, arcname="model")
        if code_dir is not None:
            tar.add(code_dir, arcname="code")
    return buffer.getvalue()


class RemoteWorkerWork:
    """One worker of a fleet, shipped to a node.  Picklable until ``run``."""

    def __init__(self, label: str, runtime: str, archive: bytes, has_code: bool,
                 entry_point: str, environment: dict[str, str], sandbox: str,
                 hidden: tuple[Path, ...] = ()) -> None:
        self.label, self.runtime, self.archive, self.has_code = label, runtime, archive, has_code
        self.entry_point, self.environment, self.sandbox = entry_point, environment, sandbox
        self.hidden = hidden  # cove's home: hidden where the node has it (this machine)
        self._proc: subprocess.Popen[bytes] | None = None
        self._sandbox: Sandbox | None = None
        self._stopped = threading.Event()

    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_proc", "_sandbox", "_stopped")}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._proc, self._sandbox, self._stopped = None, None, threading.Event()

    def run(self, events: Callable[[Event], None]) -> int:
        import os
        import sys

        root = Path(tempfile.gettempdir()) / f"cove-node-{os.getuid()}" / "endpoints"
        directory = Path(tempfile.mkdtemp(prefix=f"{self.label}-", dir=_made(root)))
        try:
            with tarfile.open(fileobj=io.BytesIO(self.archive)) as tar:
                tar.extractall(directory, filter="data")
            sandbox = self._sandbox = choose_sandbox(self.sandbox)
            base = Path("/opt/ml") if sandbox.mounts_opt_ml else directory
            port = _free_port()
            address = f"127.0.0.1:{port}"
            command = [sys.executable, "-m", "cove.serving.worker", "--socket", address,
                       "--model-dir", str(base / "model"), "--runtime", self.runtime,
                       "--failure-file", str(base / "failure")]
            if self.has_code:
                command += ["--code-dir", str(base / "code"), "--entry-point", self.entry_point]
            # the worker's loopback is its sandbox's own: its port is relayed from the node's
            spec = ProcessSpec(command, base_environment(dict(self.environment)), directory, base,
                               tuple(p for p in self.hidden if p.exists()), ports=(port,))
            if self._stopped.is_set():
                return 0
            self._proc = sandbox.spawn(spec, subprocess.PIPE)
            events(("listening", (address,)))
            assert self._proc.stdout is not None
            for raw in self._proc.stdout:
                events(("log", ([raw.decode("utf-8", "replace").rstrip("\n")],)))
            code = self._proc.wait()
            failure = worker_failure(directory, lambda line: events(
                ("log", ([line],)))) if code else ""
            if code and failure:
                events(("failure", (failure,)))
            return code
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def stop(self, reason: str) -> None:
        self._stopped.set()
        proc, sandbox = self._proc, self._sandbox
        if proc is not None and sandbox is not None and proc.poll() is None:
            sandbox.terminate(proc)
            timer = threading.Timer(STOP_GRACE, kill, (proc,))
            timer.daemon = True
            timer.start()


def _made(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def worker_failure(directory: Path, log: Callable[[str], None]) -> str:
    """What a worker wrote to its failure file (the first KiB), or "".  The worker's code may
    have made that file a link to anything the server can read: it is never followed."""
    try:
        written = read_capped(directory, "failure", FAILURE_LIMIT)
    except Unsafe as exc:
        log(f"cove: the worker's failure file was not read: {exc}")
        return ""
    return written.decode("utf-8", "replace").strip() if written else ""

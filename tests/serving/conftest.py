"""Model-server workers as real subprocesses on Unix sockets in ``tmp_path``, and httpx clients."""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from cove.serving import worker_command

SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass
class Worker:
    """A running worker process and a client on its socket."""

    proc: subprocess.Popen[bytes]
    socket: Path
    log: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(transport=httpx.HTTPTransport(uds=str(self.socket)),
                                   base_url="http://worker", timeout=30)

    def invoke(self, body: bytes | str, content_type: str | None = "text/csv",
               accept: str | None = None, **headers: str) -> httpx.Response:
        sent = dict(headers)
        if content_type is not None:
            sent["Content-Type"] = content_type
        if accept is not None:
            sent["Accept"] = accept
        data = body.encode() if isinstance(body, str) else body
        return self.client.post("/invocations", content=data, headers=sent)

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout=30)


@dataclass
class Failure:
    """A worker that exited during loading."""

    returncode: int
    reason: str | None
    output: str


def environ(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def command(workdir: Path, model_dir: Path, runtime: str, code_dir: Path | None,
            entry_point: str | None) -> list[str]:
    return worker_command(workdir / "worker.sock", model_dir, runtime, code_dir=code_dir,
                          entry_point=entry_point, failure_file=workdir / "failure")


def start_worker(workdir: Path, model_dir: Path, runtime: str, *, code_dir: Path | None = None,
                 entry_point: str | None = None, env: dict[str, str] | None = None,
                 timeout: float = 60) -> Worker:
    """Start a worker and wait until ``/ping`` answers 200."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "worker.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(command(workdir, model_dir, runtime, code_dir, entry_point),
                                stdout=sink, stderr=subprocess.STDOUT, env=environ(env))
    worker = Worker(proc, workdir / "worker.sock", log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited with {proc.returncode}:\n{worker.stderr()}")
        if worker.socket.exists():
            try:
                if worker.client.get("/ping").status_code == 200:
                    return worker
            except httpx.TransportError:
                pass
        time.sleep(0.02)
    worker.stop()
    raise RuntimeError(f"the worker did not answer /ping:\n{worker.stderr()}")


def run_failing_worker(workdir: Path, model_dir: Path, runtime: str, *,
                       code_dir: Path | None = None, entry_point: str | None = None,
                       env: dict[str, str] | None = None) -> Failure:
    """Run a worker that should fail to load; it must exit by itself without a socket."""
    workdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command(workdir, model_dir, runtime, code_dir, entry_point),
                          capture_output=True, text=True, env=environ(env), timeout=120,
                          check=False)
    assert not (workdir / "worker.sock").exists()
    failure = workdir / "failure"
    return Failure(done.returncode, failure.read_text() if failure.exists() else None,
                   done.stdout + done.stderr)


def write_code(code_dir: Path, source: str, name: str = "inference.py") -> Path:
    code_dir.mkdir(parents=True, exist_ok=True)
    path = code_dir / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """Workers started in a test, stopped after it (append them)."""
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()

"""Sandbox networks directly: processes with one network key share a loopback (a job's hosts),
others cannot reach it, and a network's keeper ends with its last process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cove.executors import Bubblewrap, ProcessSpec, _networks, choose_sandbox

LISTEN = ("import socket; s = socket.socket(); s.bind(('127.0.0.1', 7777)); s.listen(); "
          "print('listening', flush=True); c, _ = s.accept(); c.sendall(b'hello'); c.close()")
CONNECT = ("import socket\ntry:\n    print(socket.create_connection(('127.0.0.1', 7777), 5)"
           ".recv(5).decode())\nexcept OSError as e:\n    print('refused', type(e).__name__)")


WAIT_FOR_GO = ("import os, time\ndeadline = time.monotonic() + 120\n"
               "while not os.path.exists('go') and time.monotonic() < deadline:\n"
               "    time.sleep(0.02)\n")


@pytest.fixture
def sandbox() -> Bubblewrap:
    chosen = choose_sandbox()
    assert isinstance(chosen, Bubblewrap), getattr(chosen, "reason", chosen)
    return chosen


def _spawn(sandbox: Bubblewrap, tmp_path: Path, code: str, network: str,
           name: str) -> subprocess.Popen[bytes]:
    job = tmp_path / name
    job.mkdir()
    spec = ProcessSpec([sys.executable, "-c", code], {"PATH": "/usr/bin:/bin"}, job,
                       Path("/opt/ml"), network=network)
    return sandbox.spawn(spec, subprocess.PIPE)


def test_one_network_is_shared_and_no_other_reaches_it(sandbox: Bubblewrap,
                                                       tmp_path: Path) -> None:
    key = f"test-{os.getpid()}-{time.monotonic_ns()}"
    server = _spawn(sandbox, tmp_path, LISTEN, key, "server")
    assert server.stdout is not None
    assert server.stdout.readline().strip() == b"listening"
    stranger = _spawn(sandbox, tmp_path, CONNECT, "", "stranger")  # a network of its own
    assert stranger.communicate(timeout=60)[0].decode().startswith("refused")
    peer = _spawn(sandbox, tmp_path, CONNECT, key, "peer")
    assert peer.communicate(timeout=60)[0].decode().strip() == "hello"
    assert server.wait(timeout=60) == 0


def test_a_network_ends_with_its_last_process(sandbox: Bubblewrap, tmp_path: Path) -> None:
    key = f"test-{os.getpid()}-{time.monotonic_ns()}"
    # the first runs until told to end (a file in its job directory), not for a second that
    # a loaded machine could spend starting the second
    first = _spawn(sandbox, tmp_path, WAIT_FOR_GO, key, "first")
    second = _spawn(sandbox, tmp_path, "pass", key, "second")
    record = _networks.registry_base(key, 0).with_suffix(".keeper")
    keeper = int(record.read_text().split()[0])
    assert second.wait(timeout=60) == 0
    assert first.poll() is None, "the first ended before it was told to"
    assert record.exists() and Path(f"/proc/{keeper}").exists()  # first still runs
    (tmp_path / "first" / "go").write_text("")
    assert first.wait(timeout=60) == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (record.exists() or _running(keeper)):
        time.sleep(0.1)
    assert not record.exists() and not _running(keeper)
    assert not record.with_suffix(".lease").exists()


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False

"""The escapes user code tries, as one probe each kind of user code runs and reports as JSON,
and the throwaway service on the machine's loopback it must not reach."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: ``probe(home, port)`` -> what the code could see and do.  Runs as user code everywhere.
PROBE = r'''
import os, socket, subprocess

def probe(home, port):
    found = {"uid": os.getuid(), "gid": os.getgid()}
    status = open("/proc/self/status").read()
    found["CapEff"] = status.split("CapEff:")[1].split()[0]
    found["CapBnd"] = status.split("CapBnd:")[1].split()[0]
    found["NoNewPrivs"] = status.split("NoNewPrivs:")[1].split()[0]
    found["Seccomp"] = status.split("Seccomp:")[1].split()[0]
    found["visible"] = {path: os.path.exists(path) for path in (
        "/root/.ssh", "/home", "/etc/shadow", os.path.join(home, "credentials.json"),
        os.path.join(home, "cove.db"), "/work/main", "/var/lib")}
    # cove's home only as the path to what is granted (the cached environments)
    found["home_entries"] = sorted(os.listdir(home)) if os.path.isdir(home) else []
    found["root_entries"] = sorted(os.listdir("/root")) if os.path.isdir("/root") else []
    attempts = {"umount": ["umount", "-l", "/usr"],
                "mount": ["mount", "-t", "tmpfs", "none", "/tmp"],
                "remount": ["mount", "-o", "remount,rw", "/usr"],
                "unshare": ["unshare", "-U", "-r", "true"]}
    found["succeeded"] = [name for name, command in attempts.items()
                          if subprocess.run(command, capture_output=True).returncode == 0]
    found["writable"] = {}
    for place in ("/tmp", "/var/tmp", "/dev/shm"):  # a container's writable places
        try:
            with open(os.path.join(place, "cove-probe"), "w") as scratch:
                scratch.write("x")
            found["writable"][place] = True
        except OSError:
            found["writable"][place] = False
    try:
        import multiprocessing
        multiprocessing.Lock()  # a POSIX semaphore: joblib and torch need one
        found["semaphores"] = True
    except OSError:
        found["semaphores"] = False
    try:
        open("/usr/cove-was-here", "w")
        found["wrote_usr"] = True
    except OSError:
        found["wrote_usr"] = False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            found["service"] = sock.recv(64).decode()
    except OSError as exc:
        found["service"] = "refused: " + type(exc).__name__
    try:
        import boto3
        found["buckets"] = len(boto3.client("s3").list_buckets()["Buckets"])
    except Exception as exc:  # reported, not raised: the test says what went wrong
        found["buckets"] = "failed: " + repr(exc)[:200]
    return found
'''


@contextmanager
def loopback_service() -> Iterator[int]:
    """A TCP service on the machine's 127.0.0.1 that greets whoever connects."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                return  # closed: the test is over
            client.sendall(b"SECRET-SERVICE")
            client.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()


def assert_confined(found: dict[str, Any], home: str) -> None:
    assert found["uid"] == 1000 and found["gid"] == 1000, found
    assert found["CapEff"] == "0000000000000000", found
    assert found["CapBnd"] == "0000000000000000", found
    assert found["NoNewPrivs"] == "1" and found["Seccomp"] == "2", found
    assert not any(found["visible"].values()), found["visible"]
    assert found["root_entries"] in ([], [".pyenv"]), found  # the interpreter's path only
    assert set(found["home_entries"]) <= {"envs"}, found
    assert found["succeeded"] == [], found
    assert found["wrote_usr"] is False
    assert all(found["writable"].values()) and found["semaphores"], found
    assert found["service"].startswith("refused"), found
    assert isinstance(found["buckets"], int), found  # cove's API is the way out


def last_json(text: str) -> dict[str, Any]:
    line = [ln for ln in text.splitlines() if ln.startswith("{")][-1]
    return json.loads(line)  # type: ignore[no-any-return]

"""The CLI is an API client: every command that reads or changes state asks the running server,
and the CLI process never opens the metadata database (it used to, for `cove endpoints ls`,
`cove transforms ls` and `cove status`: taking SQLite's write lock and migrating the schema
under a running server).

Each command runs in a real subprocess under a Python audit hook that kills it (exit 99) the
moment it connects to SQLite or opens a file of the database, so a regression cannot hide.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CoveServer

#: The guard: any SQLite connection, or any open of cove.db / cove.db-wal / cove.db-shm, ends
#: the process with 99 and says what it touched.
GUARDED_CLI = """
import os, sys

def guard(event, args):
    touched = event == "sqlite3.connect" or (
        event == "open" and isinstance(args[0], (str, bytes, os.PathLike))
        and os.path.basename(os.fsdecode(args[0])).startswith("cove.db"))
    if touched:
        os.write(2, f"DATABASE TOUCHED: {event} {args[0]!r}\\n".encode())
        os._exit(99)

sys.addaudithook(guard)
from cove.cli import main
sys.argv = ["cove", *sys.argv[1:]]
main()
"""

#: Every state-reading command of the CLI (those that change state go through the same client).
COMMANDS = [["status"], ["jobs", "ls"], ["processing", "ls"], ["tuning", "ls"],
            ["transforms", "ls"], ["endpoints", "ls"], ["functions", "ls"], ["gateway", "ls"],
            ["pipelines", "ls"], ["notebook", "ls"]]


def guarded(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COVE_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", GUARDED_CLI, *args], env=env, text=True,
                          capture_output=True, timeout=120)


def test_the_guard_catches_a_database_open(tmp_path: Path) -> None:
    """The guard itself: a process that opens the database is stopped (else the test below
    could pass by watching nothing)."""
    script = GUARDED_CLI.replace("from cove.cli import main", "import sqlite3\n"
                                 f"sqlite3.connect({str(tmp_path / 'cove.db')!r})\n"
                                 "from cove.cli import main")
    out = subprocess.run([sys.executable, "-c", script, "version"], text=True,
                         capture_output=True, timeout=60)
    assert out.returncode == 99 and "DATABASE TOUCHED: sqlite3.connect" in out.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_each_command_reads_through_the_server_never_the_database(
        cove: CoveServer, command: list[str]) -> None:
    out = guarded(cove.home, *command)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "DATABASE TOUCHED" not in out.stderr


def test_status_shows_the_servers_object_counts(cove: CoveServer) -> None:
    s3 = cove.client("s3")
    s3.create_bucket(Bucket="cli-status-counts")
    s3.put_object(Bucket="cli-status-counts", Key="k", Body=b"x" * 2048)
    stats = _cove_call(cove, "DescribeObjectStore")
    assert stats["Buckets"] >= 1 and stats["Objects"] >= 1 and stats["Bytes"] >= 2048
    out = guarded(cove.home, "status")
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    assert f"{stats['Buckets']}" in lines["buckets"]


def test_cove_api_lists_usage_and_progress_in_its_own_shape(cove: CoveServer) -> None:
    usage = _cove_call(cove, "ListEndpointUsage")
    progress = _cove_call(cove, "ListTransformProgress")
    assert isinstance(usage["Endpoints"], list) and isinstance(progress["TransformJobs"], list)
    for endpoint in usage["Endpoints"]:
        assert set(endpoint) == {"EndpointName", "Invocations", "LastInvocation"}


def test_without_a_server_each_command_says_so_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for command in (["endpoints", "ls"], ["transforms", "ls"], ["jobs", "ls"]):
        out = guarded(home, *command)
        assert out.returncode == 1, out.stdout + out.stderr
        message = out.stderr.strip()
        assert len(message.splitlines()) == 1, message
        assert "not running" in message and "cove up" in message
    assert not (home / "cove.db").exists()  # nothing created a database either


def test_a_server_that_no_longer_answers_is_one_line_too(tmp_path: Path) -> None:
    """server.json names a live process that does not listen (a crash mid-start, or a port
    taken over): the CLI says cove does not answer there, not a traceback."""
    home = tmp_path / "home"
    home.mkdir()
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (home / "server.json").write_text(json.dumps({
        "pid": os.getpid(), "host": "127.0.0.1", "port": port,
        "url": f"http://127.0.0.1:{port}", "console_url": "", "started": 0}))
    for command in (["endpoints", "ls"], ["jobs", "ls"]):
        out = guarded(home, *command)
        assert out.returncode == 1, out.stdout + out.stderr
        message = out.stderr.strip()
        assert len(message.splitlines()) == 1 and "Traceback" not in message, message
        assert "does not answer" in message and "cove up" in message


def _cove_call(cove: CoveServer, operation: str) -> dict[str, Any]:
    from cove.cli._client import cove_call

    return cove_call(operation, cove.home)

"""The `cove` command line, run as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def cove_cmd(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COVE_HOME": str(home), "COVE_PORT": "0"}
    return subprocess.run([sys.executable, "-m", "cove", *args], env=env, text=True,
                          capture_output=True, timeout=timeout)


def exported(output: str) -> dict[str, str]:
    pairs = [line.removeprefix("export ").split("=", 1) for line in output.splitlines()
             if line.startswith("export ")]
    return {k: v for k, v in pairs}


def test_up_detach_status_env_down(tmp_path: Path) -> None:
    home = tmp_path / "home"
    started = cove_cmd(home, "up", "--detach")
    assert started.returncode == 0, started.stderr
    assert "cove is up at http://127.0.0.1:" in started.stdout

    status = cove_cmd(home, "status")
    assert status.returncode == 0 and "running" in status.stdout
    assert "executor" in status.stdout and "local (" in status.stdout  # the signed call

    env = exported(cove_cmd(home, "env").stdout)
    assert set(env) >= {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                        "AWS_DEFAULT_REGION"}
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    # What `eval "$(cove env)"` gives a client, and nothing else, reaches cove.
    script = ("import boto3; s3 = boto3.client('s3'); s3.create_bucket(Bucket='from-env'); "
              "print([b['Name'] for b in s3.list_buckets()['Buckets']])")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    out = subprocess.run([sys.executable, "-c", script], env={**clean, **env}, text=True,
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "from-env" in out.stdout

    status = cove_cmd(home, "status")
    assert "buckets" in status.stdout and " 1" in status.stdout

    again = cove_cmd(home, "up", "--port", "0")  # a second server for the same home refuses
    assert again.returncode == 1 and "already running" in again.stderr

    stopped = cove_cmd(home, "down")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert cove_cmd(home, "status").returncode == 1
    assert not (home / "server.json").exists()


def test_credentials_file_is_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cove_cmd(home, "env")
    mode = (home / "credentials.json").stat().st_mode & 0o777
    assert mode == 0o600
    assert home.stat().st_mode & 0o777 == 0o700  # the database and logs are private too


def test_sigterm_shuts_down_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "COVE_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "cove", "up", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "listening on http://127.0.0.1:" in line
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert not (home / "server.json").exists()


def test_port_flag_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    # the console's port would be the API's + 1, which another test's connection may hold
    # (ephemeral ports are handed out from the same range): a free one instead
    monkeypatch.setenv("COVE_CONSOLE_PORT", "0")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tmp_path / "home"
    started = cove_cmd(home, "up", "--detach", "--port", str(port))
    try:
        assert f"http://127.0.0.1:{port}" in started.stdout, started.stderr
    finally:
        cove_cmd(home, "down")


@pytest.mark.parametrize("bad", ["abc", "-1x"])
def test_bad_port_is_a_clear_error(tmp_path: Path, bad: str) -> None:
    result = cove_cmd(tmp_path / "home", "up", "--port", bad)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr


def test_health_is_minimal_and_the_executor_answers_only_signed(cove: Any) -> None:
    import urllib.error
    import urllib.request

    with urllib.request.urlopen(cove.url + "/_cove/health", timeout=5) as response:
        assert set(json.loads(response.read())) == {"status", "version", "pid", "uptime_seconds"}
    unsigned = urllib.request.Request(cove.url + "/", data=b"{}", method="POST", headers={
        "X-Amz-Target": "Cove.DescribeExecutor", "Content-Type": "application/x-amz-json-1.1"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unsigned, timeout=5)
    assert refused.value.code == 403

    from cove.cli._client import cove_call

    described = cove_call("DescribeExecutor", cove.home)
    assert described["executor"] == "local" and described["slots"] >= 2


def test_a_busy_port_is_one_line_naming_it(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for args in (("up", "--detach", "--port", port), ("up", "--port", port)):
            out = cove_cmd(tmp_path / "home", *args, timeout=60)
            assert out.returncode == 1, out.stdout + out.stderr
            assert out.stderr.count("\n") == 1, out.stderr  # one line, no server.log
            assert f"port {port} on 127.0.0.1 is busy" in out.stderr
            assert "--port 0" in out.stderr and "COVE_PORT" in out.stderr
            assert "listening" not in out.stdout and "Console:" not in out.stdout
    assert not (tmp_path / "home" / "server.json").exists()


def test_version_help_defaults_and_endpoints_help(tmp_path: Path) -> None:
    from cove import __version__

    assert cove_cmd(tmp_path, "--version").stdout.strip() == f"cove {__version__}"
    up_help = cove_cmd(tmp_path, "up", "--help").stdout
    assert "default: ~/.cove" in up_help and "default: 4599" in up_help
    assert "default: 127.0.0.1" in up_help
    assert "start" in cove_cmd(tmp_path, "endpoints", "--help").stdout


def test_env_run_and_cli_errors_against_a_running_cove(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert cove_cmd(home, "run", "--", "true").returncode == 1  # not running: says so
    assert cove_cmd(home, "up", "--detach").returncode == 0
    try:
        env = exported(cove_cmd(home, "env").stdout)
        sdk_file = Path(env["SAGEMAKER_USER_CONFIG_OVERRIDE"])
        config = sdk_file.read_text()
        account = json.loads((home / "credentials.json").read_text())["account_id"]
        assert "TelemetryOptOut: true" in config
        assert f"DefaultS3Bucket: sagemaker-us-east-1-{account}" in config
        assert f"RoleArn: arn:aws:iam::{account}:role/" in config
        assert env["SAGEMAKER_SUPPRESS_V2_WARNING"] == "1"  # no six-line notices per class
        # cove run: the command gets cove's environment (not the caller's AWS keys), and its
        # exit code is cove run's
        script = ("import os, sys, boto3; print(os.environ['AWS_ENDPOINT_URL'], "
                  "boto3.client('sts').get_caller_identity()['Account']); sys.exit(3)")
        os.environ["AWS_ACCESS_KEY_ID"] = "AKIAREALAWSKEY"
        try:
            out = cove_cmd(home, "run", "--", sys.executable, "-c", script)
        finally:
            del os.environ["AWS_ACCESS_KEY_ID"]
        assert out.returncode == 3, out.stderr
        assert out.stdout.split() == [env["AWS_ENDPOINT_URL"], account]
        # the SDK finds its bucket and role and prints no telemetry traceback
        sdk = ("import sagemaker; s = sagemaker.Session(); print(s.default_bucket())")
        out = cove_cmd(home, "run", "--", sys.executable, "-c", sdk)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split()[-1] == f"sagemaker-us-east-1-{account}"
        assert "Traceback" not in out.stderr
        missing = cove_cmd(home, "run", "--", "no-such-command-here")
        assert missing.returncode == 1 and "no-such-command-here: command not found" in \
            missing.stderr
        for group in ("jobs", "transforms"):
            typo = cove_cmd(home, group, "logs", "no-such-job")
            assert typo.returncode == 1, typo.stdout
            assert "error:" in typo.stderr and "no-such-job" in typo.stderr
        status = cove_cmd(home, "status")
        assert "notebooks" in status.stdout and "none running" in status.stdout
    finally:
        cove_cmd(home, "down")

"""Real cove servers on free loopback ports, and real clients pointed at them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

REGION = "us-east-1"


@dataclass
class CoveServer:
    """A cove server process for one home directory."""

    home: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    url: str = ""
    #: The console's own origin (its own port).
    console_url: str = ""
    #: Runs the server under another identity (``setpriv --reuid=...``).
    prefix: tuple[str, ...] = ()
    #: The interpreter cove runs on (the v3 suite runs some tests on cove's own environment).
    python: str = sys.executable

    def start(self, timeout: float = 120.0) -> CoveServer:
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.home / "server-test.log", "ab")  # noqa: SIM115
        env = {**os.environ, "COVE_HOME": str(self.home), **self.extra_env}
        self.proc = subprocess.Popen(
            [*self.prefix, self.python, "-m", "cove", "up", "--port", "0"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cove exited: {self.log_tail()}")
            record = self._record()
            if record and record["pid"] == self.proc.pid and self._healthy(record["url"]):
                self.url, self.console_url = record["url"], record["console_url"]
                return self
            time.sleep(0.02)
        raise RuntimeError(f"cove did not start: {self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> CoveServer:
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        path = self.home / "server-test.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) \
            if path.exists() else ""

    def _record(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.home / "server.json").read_text())  # type: ignore[no-any-return]
        except (FileNotFoundError, ValueError):
            return None

    @staticmethod
    def _healthy(url: str) -> bool:
        try:
            with urllib.request.urlopen(url + "/_cove/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    @property
    def credentials(self) -> dict[str, str]:
        return json.loads((self.home / "credentials.json").read_text())  # type: ignore[no-any-return]

    def env(self) -> dict[str, str]:
        """What `cove env` would export: for subprocess clients (aws CLI)."""
        c = self.credentials
        return {"AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": c["access_key_id"],
                "AWS_SECRET_ACCESS_KEY": c["secret_access_key"], "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION}

    def send_signed_head(self, method: str, path: str, headers: dict[str, str]) -> Any:
        """Open a raw socket and send a correctly signed S3 request line and headers only (the
        body, if any, is the caller's to send or withhold); returns the socket."""
        import socket
        from urllib.parse import urlparse

        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        c = self.credentials
        request = AWSRequest(method, self.url + path, headers={
            "Host": self.url.removeprefix("http://"), **headers})
        S3SigV4Auth(Credentials(c["access_key_id"], c["secret_access_key"]), "s3",
                    REGION).add_auth(request)
        parsed = urlparse(self.url)
        sock = socket.create_connection((parsed.hostname, parsed.port), timeout=10)
        sock.sendall((f"{method} {path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in request.headers.items()) + "\r\n").encode())
        return sock

    def client(self, service: str, **config: Any) -> Any:
        c = self.credentials
        return boto3.session.Session().client(
            service, endpoint_url=self.url, region_name=REGION,
            aws_access_key_id=c["access_key_id"], aws_secret_access_key=c["secret_access_key"],
            config=BotoConfig(s3={"addressing_style": "path"},
                              retries={"max_attempts": 1, "mode": "standard"}, **config))


@pytest.fixture(scope="session", autouse=True)
def _isolated_aws_environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read the developer's ~/.aws or AWS_* variables."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "COVE_")):
            del os.environ[name]
    empty = tmp_path_factory.mktemp("aws") / "config"
    empty.write_text("")
    os.environ["AWS_CONFIG_FILE"] = str(empty)
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(empty)
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"


@pytest.fixture(scope="session")
def cove(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    """One shared server per test worker; tests keep to their own buckets."""
    server = CoveServer(tmp_path_factory.mktemp("cove-home")).start()
    yield server
    server.stop()


@pytest.fixture
def fresh_cove(tmp_path: Path) -> Iterator[CoveServer]:
    """A server of the test's own, for restarts and crashes."""
    server = CoveServer(tmp_path / "home").start()
    yield server
    if server.proc and server.proc.poll() is None:
        server.stop()


@pytest.fixture
def s3(cove: CoveServer) -> Any:
    return cove.client("s3")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


# --- a Ray cluster on loopback, for the tests that run flows on both executors -------------------

GIB = 1 << 30
#: The head and a second node with its own resources (logical: Ray never checks them against
#: the machine).  An ml.m5.large host (2 CPU, 8 GiB) fits either; an ml.m5.2xlarge one (8 CPU,
#: 32 GiB) only the second node.
RAY_HEAD = {"num_cpus": 4, "memory": 16 * GIB}
RAY_NODE2 = {"num_cpus": 8, "memory": 40 * GIB, "resources": {"node2": 1}}


@dataclass
class RayCluster:
    address: str
    proc: subprocess.Popen[str]
    temp_dir: Path

    def processes(self) -> list[Any]:
        """Every process of the cluster (psutil), the launcher included."""
        import psutil

        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """One loopback Ray cluster (head + node2) per test worker; Ray tests share one worker
    (``xdist_group("ray")``), so a run starts one cluster."""
    import shutil

    pytest.importorskip("ray", reason="pip install 'cove[ray]'")
    # The launcher gives a raylet minutes to register (Ray's own waits are 30 s, see
    # loopback_cluster._patient_node_lookup); a launch that fails all the same (a port taken
    # between its probe and its bind) starts again, up to three times, before giving up.
    for attempt in range(3):
        address, proc, temp_dir = _launch_ray_cluster()
        if address:
            break
        failure = (temp_dir / "cluster.log").read_text()[-3000:]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)
        if attempt == 2:
            raise RuntimeError("the Ray cluster did not start:\n" + failure)
    cluster = RayCluster(address, proc, temp_dir)
    yield cluster
    proc.terminate()  # the launcher takes its nodes down
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    shutil.rmtree(temp_dir, ignore_errors=True)


def _launch_ray_cluster() -> tuple[str, subprocess.Popen[str], Path]:
    """The launcher's process and, once every node is up, the cluster's address ("" if it
    failed)."""
    import tempfile

    # Short: Ray's Unix socket paths live under it and must stay under 108 characters.
    temp_dir = Path(tempfile.mkdtemp(prefix="cray-"))
    with open(temp_dir / "cluster.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cove.executors.loopback_cluster", "--temp-dir",
             str(temp_dir), "--head", json.dumps(RAY_HEAD), "--node", json.dumps(RAY_NODE2)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True,
            start_new_session=True)
    assert proc.stdout is not None
    return proc.stdout.readline().strip(), proc, temp_dir


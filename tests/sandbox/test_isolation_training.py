"""Training jobs, and the requirements.txt builds for them, run confined: as an unprivileged
uid with no capabilities (cove runs as root in CI), unable to mount or unmount, seeing nothing
of the machine but the runtime, and with no network but cove's API."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.conftest import CoveServer
from tests.console.conftest import signed_in
from tests.sandbox.helpers import PROBE, assert_confined, last_json, loopback_service
from tests.training.helpers import log_lines, script_job, tar_gz, unique, upload_source, wait

TRAIN = PROBE + r'''
import json, sys
print(json.dumps(probe(sys.argv[sys.argv.index("--home") + 1],
                       int(sys.argv[sys.argv.index("--port") + 1]))), flush=True)
'''


def test_a_training_job_is_confined(cove: CoveServer, s3: Any, bucket: str) -> None:
    """The probe runs as user code: the sandbox is the only thing in its way."""
    sm, logs = cove.client("sagemaker"), cove.client("logs")
    source = upload_source(s3, bucket, {"train.py": TRAIN})
    name = unique("probe")
    with loopback_service() as port:
        sm.create_training_job(**script_job(name, bucket, source, hyperparameters={
            "home": f'"{cove.home}"', "port": str(port)}))
        d = wait(sm, name, timeout=300)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert_confined(last_json("\n".join(log_lines(logs, name))), str(cove.home))


BACKEND = '''
"""A build backend that goes for cove's keys while pip builds the package."""
import os, zipfile

def _steal():
    try:
        found = "LEAKED " + open(%(secret)r).read()
    except OSError as exc:
        found = "blocked: " + type(exc).__name__
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stolen.txt"),
              "w") as out:
        out.write(found)

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _steal()
    name = "evilpkg-1.0-py3-none-any.whl"
    info = "evilpkg-1.0.dist-info"
    files = {"evilpkg.py": "OK = 1\\n",
             info + "/METADATA": "Metadata-Version: 2.1\\nName: evilpkg\\nVersion: 1.0\\n",
             info + "/WHEEL": "Wheel-Version: 1.0\\nGenerator: evil\\nRoot-Is-Purelib: true\\n"
                              "Tag: py3-none-any\\n"}
    files[info + "/RECORD"] = "".join(f + ",,\\n" for f in files) + info + "/RECORD,,\\n"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return name
'''

PYPROJECT = '''
[build-system]
requires = []
build-backend = "evilbackend"
backend-path = ["."]
'''


def test_a_requirements_build_cannot_read_coves_keys(cove: CoveServer, s3: Any,
                                                     bucket: str) -> None:
    sm, logs = cove.client("sagemaker"), cove.client("logs")
    secret = str(cove.home / "credentials.json")
    train = 'import evilpkg\nprint("STOLEN:", open("/opt/ml/code/stolen.txt").read())\n'
    files = {"train.py": train, "requirements.txt": "./evilpkg\n",
             "evilpkg/pyproject.toml": PYPROJECT,
             "evilpkg/evilbackend.py": BACKEND % {"secret": secret}}
    key = f"code/{unique('evil')}/sourcedir.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=tar_gz(
        {path: textwrap.dedent(text).encode() for path, text in files.items()}))
    name = unique("evil")
    sm.create_training_job(**script_job(name, bucket, f"s3://{bucket}/{key}"))
    d = wait(sm, name, timeout=300)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    text = "\n".join(log_lines(logs, name))
    assert "STOLEN: blocked: FileNotFoundError" in text, text[-2000:]
    assert cove.credentials["secret_access_key"] not in text


def test_without_bubblewrap_cove_runs_no_user_code(tmp_path: Path) -> None:
    """No silent fallback: the job fails saying how to install bubblewrap or opt out."""
    bin_dir = str(Path(sys.executable).parent)
    server = CoveServer(tmp_path / "home", {"PATH": bin_dir}).start()
    try:
        s3, sm = server.client("s3"), server.client("sagemaker")
        s3.create_bucket(Bucket="nobwrap")
        source = upload_source(s3, "nobwrap", {"train.py": "print('ran')\n"})
        name = unique("nobwrap")
        sm.create_training_job(**script_job(name, "nobwrap", source))
        d = wait(sm, name)
        assert d["TrainingJobStatus"] == "Failed"
        assert "apt-get install bubblewrap" in d["FailureReason"], d["FailureReason"]
        assert "COVE_SANDBOX=none" in d["FailureReason"]
        assert not any(line == "ran" for line in log_lines(server.client("logs"), name))
        status = _status(server)
        assert "MISSING" in status and "apt-get install bubblewrap" in status, status
        session, _ = signed_in(server)
        assert "apt-get install bubblewrap" in session.get(f"{server.url}/ui/", timeout=30).text
    finally:
        server.stop()


def test_cove_sandbox_none_says_so_in_every_job_log_and_in_status(tmp_path: Path) -> None:
    server = CoveServer(tmp_path / "home", {"COVE_SANDBOX": "none"}).start()
    try:
        s3, sm = server.client("s3"), server.client("sagemaker")
        s3.create_bucket(Bucket="unsandboxed")
        source = upload_source(s3, "unsandboxed", {"train.py": "print('ran')\n"})
        name = unique("none")
        sm.create_training_job(**script_job(name, "unsandboxed", source))
        assert wait(sm, name)["TrainingJobStatus"] == "Completed"
        lines = log_lines(server.client("logs"), name)
        assert "UNSANDBOXED" in lines[0] and "COVE_SANDBOX=none" in lines[0], lines[:3]
        assert "UNSANDBOXED" in _status(server)
        session, _ = signed_in(server)
        page = session.get(f"{server.url}/ui/", timeout=30).text
        assert 'id="sandbox-banner"' in page and "UNSANDBOXED" in page
    finally:
        server.stop()


def _status(server: CoveServer) -> str:
    env = {**os.environ, "COVE_HOME": str(server.home), "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "cove", "status"], env=env,
                          capture_output=True, text=True, timeout=120).stdout

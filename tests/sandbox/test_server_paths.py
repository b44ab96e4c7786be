"""The server never follows a path user code controls: a job's failure file, its model/ and
output/data/, a model worker's failure file.  Each attack plants a link to cove's own
credentials (the root keys) and checks that nothing of them comes back through the API."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path
from typing import Any

from tests.conftest import CoveServer
from tests.training.helpers import (
    ROLE,
    SKLEARN_IMAGE,
    log_lines,
    script_job,
    tar_gz,
    unique,
    upload_source,
    wait,
)

FAILURE_LINK = """
import os, sys
os.symlink(os.environ["TARGET"], os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"))
sys.exit(3)
"""

# model/ becomes a link to cove's home; output/data/ gets a file, a link inside it, a link to
# the credentials and a FIFO
TREE_LINKS = """
import os, shutil
home = os.path.dirname(os.environ["TARGET"])
model, data = os.environ["SM_MODEL_DIR"], os.environ["SM_OUTPUT_DATA_DIR"]
shutil.rmtree(model)
os.symlink(home, model)
with open(os.path.join(data, "ok.txt"), "w") as f:
    f.write("fine")
os.symlink("ok.txt", os.path.join(data, "alias.txt"))
os.symlink(os.environ["TARGET"], os.path.join(data, "keys.json"))
os.mkdir(os.path.join(data, "sub"))
os.symlink("../../../../..", os.path.join(data, "sub", "up"))
os.mkfifo(os.path.join(data, "pipe"))
"""


def _secrets(cove: CoveServer) -> list[str]:
    creds = cove.credentials
    return [creds["secret_access_key"], creds["access_key_id"]]


def _job(cove: CoveServer, bucket: str, script: str) -> dict[str, Any]:
    sm, s3 = cove.client("sagemaker"), cove.client("s3")
    name = unique("paths")
    source = upload_source(s3, bucket, {"train.py": script})
    sm.create_training_job(**script_job(
        name, bucket, source, Environment={"TARGET": str(cove.home / "credentials.json")}))
    return wait(sm, name)


def test_a_failure_file_linked_to_the_credentials_is_not_read(cove: CoveServer,
                                                              bucket: str) -> None:
    d = _job(cove, bucket, FAILURE_LINK)
    assert d["TrainingJobStatus"] == "Failed"
    assert "exited with code 3" in d["FailureReason"]
    for secret in _secrets(cove):
        assert secret not in d["FailureReason"]
    lines = log_lines(cove.client("logs"), d["TrainingJobName"])
    assert any("output/failure was not read" in line for line in lines), lines


def test_model_and_output_links_are_not_followed_into_the_archives(cove: CoveServer,
                                                                   bucket: str) -> None:
    d = _job(cove, bucket, TREE_LINKS)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    s3 = cove.client("s3")
    prefix = d["ModelArtifacts"]["S3ModelArtifacts"].removeprefix(f"s3://{bucket}/")
    model = s3.get_object(Bucket=bucket, Key=prefix)["Body"].read()
    output = s3.get_object(Bucket=bucket, Key=prefix.replace("model.tar.gz",
                                                             "output.tar.gz"))["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(model)) as tar:
        assert tar.getnames() == []  # model/ was a link to cove's home: nothing of it
    with tarfile.open(fileobj=io.BytesIO(output)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == ["alias.txt", "ok.txt", "sub"]
        assert members["alias.txt"].issym() and members["alias.txt"].linkname == "ok.txt"
        assert tar.extractfile("ok.txt").read() == b"fine"  # type: ignore[union-attr]
    for body in (model, output):
        raw = _gunzip(body)
        for secret in _secrets(cove):
            assert secret.encode() not in raw
    lines = log_lines(cove.client("logs"), d["TrainingJobName"])
    for left_out in ("model is a link", "keys.json", "sub/up", "pipe"):
        assert any(left_out in line for line in lines), (left_out, lines)


def test_a_worker_failure_file_linked_to_the_credentials_is_not_read(cove: CoveServer,
                                                                     bucket: str) -> None:
    sm, s3 = cove.client("sagemaker"), cove.client("s3")
    code = (b"import os, sys\n\ndef model_fn(model_dir):\n"
            b"    failure = sys.argv[sys.argv.index('--failure-file') + 1]\n"
            b"    if os.path.lexists(failure):\n"
            b"        os.remove(failure)\n"
            b"    os.symlink(os.environ['TARGET'], failure)\n"
            b"    os._exit(3)\n")
    key = f"models/{unique('linky')}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=tar_gz({"code/inference.py": code}))
    name = unique("paths")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": SKLEARN_IMAGE, "ModelDataUrl": f"s3://{bucket}/{key}",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                        "TARGET": str(cove.home / "credentials.json")}})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    d = _wait_endpoint(sm, name)
    assert d["EndpointStatus"] == "Failed"
    assert "exited with code 3" in d["FailureReason"]
    for secret in _secrets(cove):
        assert secret not in d["FailureReason"]


def _wait_endpoint(sm: Any, name: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d: dict[str, Any] = sm.describe_endpoint(EndpointName=name)
        if d["EndpointStatus"] != "Creating":
            return d
        time.sleep(0.2)
    raise AssertionError(f"endpoint {name} is still Creating")


def _gunzip(body: bytes) -> bytes:
    import gzip
    return gzip.decompress(body)


def test_read_capped_and_pack_tree_refuse_links(tmp_path: Path) -> None:
    """The walk itself: links on the way, special files and the size cap."""
    import os

    import pytest

    from cove.untrusted import Unsafe, pack_tree, read_capped

    secret = tmp_path / "secret"
    secret.write_text("root keys")
    base = tmp_path / "job"
    (base / "output").mkdir(parents=True)
    (base / "output" / "failure").write_text("x" * 5000)
    assert read_capped(base, "output/failure", 1024) == b"x" * 1024
    assert read_capped(base, "output/missing", 1024) is None
    os.symlink(tmp_path, base / "elsewhere")
    with pytest.raises(Unsafe):  # a link on the way, not only at the end
        read_capped(base, "elsewhere/secret", 1024)
    with pytest.raises(Unsafe):
        read_capped(base, "../secret", 1024)
    os.mkfifo(base / "output" / "pipe")
    with pytest.raises(Unsafe):  # and it does not hang
        read_capped(base, "output/pipe", 1024)
    (base / "model").mkdir()
    os.link(secret, base / "model" / "hard")  # a hard link is the file itself: it may go in
    os.symlink(secret, base / "model" / "soft")
    archive = io.BytesIO()
    lines: list[str] = []
    packed = pack_tree(base, "model", archive, lines.append)
    assert (packed.files, packed.skipped) == (1, 1)
    with tarfile.open(fileobj=io.BytesIO(archive.getvalue())) as tar:
        assert tar.getnames() == ["hard"]
    assert any("soft" in line for line in lines)


# --- notebook instances: the files cove writes into an instance's directory ---------------------

PLANT = """
import os
os.symlink(os.environ["VICTIM"], "report.ipynb")
config = os.path.join(os.environ["HOME"], ".config", "sagemaker")
import shutil
shutil.rmtree(config)
os.symlink(os.environ["OUTSIDE"], config)
print("RESULT planted=1")
"""


def test_links_a_notebook_plants_are_replaced_not_written_through(fresh_cove: CoveServer,
                                                                  tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import nbformat

    victim, outside = tmp_path / "victim.txt", tmp_path / "outside"
    victim.write_text("the operator's file\n")
    outside.mkdir()
    env = {**os.environ, "COVE_HOME": str(fresh_cove.home), "COLUMNS": "200"}

    def cove(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "cove", "notebook", *args], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    def notebook(name: str, code: str) -> Path:
        book = nbformat.v4.new_notebook()
        book.cells = [nbformat.v4.new_code_cell(code)]
        nbformat.write(book, tmp_path / name)
        return tmp_path / name

    cove("mine")
    out = cove("run", str(notebook("plant.ipynb", PLANT)), "--name", "mine",
               "--env", f"VICTIM={victim}", "--env", f"OUTSIDE={outside}")
    assert "planted = 1" in out
    cove("stop", "mine")
    cove("mine")  # starting again rewrites the SDK config beneath the planted link
    out = cove("run", str(notebook("report.ipynb", "print('RESULT fine=1')")), "--name", "mine")
    assert "fine = 1" in out
    assert victim.read_text() == "the operator's file\n"
    assert list(outside.iterdir()) == []
    root = fresh_cove.home / "notebooks" / "mine"
    assert not (root / "SageMaker" / "report.ipynb").is_symlink()
    assert "fine=1" in (root / "SageMaker" / "report.ipynb").read_text()
    config = root / "home" / ".config" / "sagemaker"
    assert not config.is_symlink() and (config / "config.yaml").is_file()


def test_the_requirements_fingerprint_reads_only_the_code_directory(tmp_path: Path) -> None:
    """The cache key hashes local packages a requirements.txt names; "/" or a link out must
    not make the server read (or hash) the machine."""
    import os

    from cove.training._envs import _fingerprint

    code, outside = tmp_path / "code", tmp_path / "outside.whl"
    (code / "pkg").mkdir(parents=True)
    (code / "pkg" / "setup.py").write_text("v1")
    outside.write_text("a")
    os.symlink(outside, code / "link.whl")
    requirements = code / "requirements.txt"
    requirements.write_text(f"/\n../outside.whl\n{outside}\nlink.whl\n./pkg\n")
    first = _fingerprint(requirements)
    outside.write_text("b")
    assert _fingerprint(requirements) == first
    (code / "pkg" / "setup.py").write_text("v2")
    assert _fingerprint(requirements) != first

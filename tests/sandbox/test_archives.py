"""Archives users hand cove are unpacked within limits and never outside their directory:
model.tar.gz at CreateEndpoint, sourcedir.tar.gz of a training job, Lambda zips at
CreateFunction/UpdateFunctionCode.  The server here has small limits, so a "bomb" can be a
few MiB of zeros."""

from __future__ import annotations

import io
import struct
import tarfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import CoveServer
from tests.training.helpers import ROLE, SKLEARN_IMAGE, script_job, unique, wait

LIMITS = {"COVE_MODEL_UNPACKED_LIMIT": "2MiB", "COVE_SOURCEDIR_UNPACKED_LIMIT": "1MiB",
          "COVE_FUNCTION_UNZIPPED_LIMIT": "1MiB", "COVE_ARCHIVE_MEMBER_LIMIT": "50"}
HANDLER = "def handler(event, context):\n    return {'v': VERSION}\n"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoveServer]:
    server = CoveServer(tmp_path_factory.mktemp("cove-limits"), extra_env=LIMITS).start()
    yield server
    server.stop()


@pytest.fixture
def box(small: CoveServer) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"
    small.client("s3").create_bucket(Bucket=name)
    return name


# --- building archives ------------------------------------------------------------------------

def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def _zeros(name: str, size: int) -> bytes:
    """A tar.gz whose one member is ``size`` zero bytes: it compresses about 1000:1."""
    return _tar([(_member(name), bytes(size))])


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _lying_zip(real_size: int, claimed: int) -> bytes:
    """A zip whose headers (local and central) claim ``claimed`` bytes for a member that
    decompresses to ``real_size``."""
    data = bytearray(_zip({"lambda_function.py": b"#" * real_size}))
    struct.pack_into("<I", data, 22, claimed)  # local header: uncompressed size
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, claimed)
    return bytes(data)


# --- model.tar.gz -------------------------------------------------------------------------------

def _endpoint(server: CoveServer, bucket: str, body: bytes) -> dict[str, Any]:
    sm, s3 = server.client("sagemaker"), server.client("s3")
    key = f"models/{unique('m')}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    name = unique("arch")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": SKLEARN_IMAGE, "ModelDataUrl": f"s3://{bucket}/{key}",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        d: dict[str, Any] = sm.describe_endpoint(EndpointName=name)
        if d["EndpointStatus"] != "Creating":
            return d
        time.sleep(0.1)
    raise AssertionError(f"{name} is still Creating")


def _bytes_under(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*")) if path.exists() else 0


def test_a_model_bomb_is_refused_before_it_is_written(small: CoveServer, box: str) -> None:
    bomb = _zeros("xgboost-model", 64 << 20)
    assert len(bomb) < 1 << 20
    d = _endpoint(small, box, bomb)
    assert d["EndpointStatus"] == "Failed"
    assert "unpacks to more than 2097152 bytes" in d["FailureReason"]
    assert "'xgboost-model'" in d["FailureReason"]
    assert _bytes_under(small.home / "artifacts") < 1 << 20  # nothing of it, no staging left


@pytest.mark.parametrize("member,why", [
    (_member("../escape.py"), "would land outside the directory"),
    (_member("/etc/cron.d/job"), "has an absolute path"),
    (_member("code/up", tarfile.SYMTYPE, "../../../../etc"), "is a link out of the directory"),
    (_member("tty", tarfile.CHRTYPE), "is a device or FIFO"),
])
def test_a_hostile_model_fails_the_endpoint_naming_the_member(
        small: CoveServer, box: str, member: tarfile.TarInfo, why: str) -> None:
    body = _tar([(_member("code/inference.py"), b"def model_fn(d):\n    return 1\n"),
                 (member, b"x")])
    d = _endpoint(small, box, body)
    assert d["EndpointStatus"] == "Failed"
    assert f"member {member.name!r} {why}" in d["FailureReason"], d["FailureReason"]


# --- sourcedir.tar.gz ------------------------------------------------------------------------

TRAIN = b"print('should never run')\n"
HOSTILE_SOURCES = {
    "../evil.py": ([(_member("../evil.py"), b"x")], "would land outside the directory"),
    "/tmp/abs.py": ([(_member("/tmp/abs.py"), b"x")], "has an absolute path"),
    "etc": ([(_member("etc", tarfile.SYMTYPE, "/etc"), b"")], "is a link to an absolute path"),
    "hl": ([(_member("hl", tarfile.LNKTYPE, "../../../credentials.json"), b"")],
           "is a link out of the directory"),
    "null": ([(_member("null", tarfile.CHRTYPE), b"")], "is a device or FIFO"),
    "big.bin": ([(_member("big.bin"), bytes(2 << 20))], "unpacks to more than 1048576 bytes"),
}


def test_hostile_sourcedirs_fail_their_jobs_with_client_errors(small: CoveServer,
                                                               box: str) -> None:
    sm, s3 = small.client("sagemaker"), small.client("s3")
    jobs = {}
    cases = {**HOSTILE_SOURCES, "many": (
        [(_member(f"m{i}.py"), b"") for i in range(60)], "has more than 50 members")}
    for member, (extra, why) in cases.items():
        key = f"code/{unique('src')}/sourcedir.tar.gz"
        s3.put_object(Bucket=box, Key=key,
                      Body=_tar([(_member("train.py"), TRAIN), *extra]))
        name = unique("src")
        sm.create_training_job(**script_job(name, box, f"s3://{box}/{key}"))
        jobs[name] = (member, why)
    for name, (member, why) in jobs.items():
        d = wait(sm, name)
        reason = d.get("FailureReason", "")
        assert d["TrainingJobStatus"] == "Failed", (member, d["TrainingJobStatus"])
        assert reason.startswith("ClientError: sourcedir.tar.gz"), (member, reason)
        assert why in reason, (member, reason)
        if member != "many":
            assert repr(member) in reason, (member, reason)


# --- Lambda zips ---------------------------------------------------------------------------------

def _create(lam: Any, zipped: bytes) -> str:
    name = unique("fn")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                        Handler="lambda_function.handler", Code={"ZipFile": zipped})
    return name


@pytest.mark.parametrize("zipped,message", [
    (_lying_zip(3 << 20, 100), "Could not unzip uploaded file"),
    (_zip({"lambda_function.py": HANDLER.replace("VERSION", "1").encode(),
           "weights.bin": bytes(2 << 20)}), "Unzipped size must be smaller than 1048576 bytes"),
    (_zip({f"f{i}.py": b"" for i in range(60)}), "more than 50 files"),
])
def test_bad_zips_are_refused_at_create_and_update(small: CoveServer, zipped: bytes,
                                                   message: str) -> None:
    lam = small.client("lambda")
    with pytest.raises(ClientError) as refused:
        _create(lam, zipped)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert message in refused.value.response["Error"]["Message"]
    name = _create(lam, _zip({"lambda_function.py": HANDLER.replace("VERSION", "1").encode()}))
    with pytest.raises(ClientError) as refused:
        lam.update_function_code(FunctionName=name, ZipFile=zipped)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    answer = lam.invoke(FunctionName=name, Payload=b"{}")  # the old code still serves
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert answer["Payload"].read() == b'{"v": 1}'


# --- configuration ------------------------------------------------------------------------------

def test_limits_are_configured_by_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cove.config import ConfigError, load_config, parse_size
    from cove.untrusted import ArchiveLimits

    assert parse_size("10GiB") == 10 << 30 and parse_size("250MiB") == 262_144_000
    assert parse_size("1 kb") == 1000 and parse_size("4096") == 4096
    with pytest.raises(ConfigError):
        parse_size("lots")
    assert load_config(tmp_path).archive_limits == ArchiveLimits()
    monkeypatch.setenv("COVE_MODEL_UNPACKED_LIMIT", "3MiB")
    assert load_config(tmp_path).archive_limits.model_bytes == 3 << 20

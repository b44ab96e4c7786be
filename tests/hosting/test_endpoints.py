"""Endpoints through boto3: deploy, invoke, weighted variants, updates without downtime,
workers that die, models that fail, restarts."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.conftest import CoveServer
from tests.training.helpers import ROLE, tar_gz, unique

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SK_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def xgb_model(s3: Any, bucket: str, seed: int = 0) -> tuple[str, Any, np.ndarray]:
    """Train a small booster in-process, upload it as model.tar.gz; returns (uri, booster, X)."""
    import xgboost as xgb

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 4))
    y = X[:, 0] * 2 - X[:, 1] + seed
    booster = xgb.train({"objective": "reg:squarederror", "max_depth": 3}, xgb.DMatrix(X, y), 20)
    raw = bytes(booster.save_raw(raw_format="ubj"))
    key = f"models/{unique('xgb')}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=_tar({"xgboost-model": raw}))
    return f"s3://{bucket}/{key}", booster, X


_tar = tar_gz  # model.tar.gz bodies


def deploy(sm: Any, variants: list[tuple[str, str, float, int]], image: str = XGB_IMAGE,
           environment: dict[str, str] | None = None, wait: bool = True) -> str:
    """variants: (variant name, model data url, weight, instance count)."""
    config = unique("cfg")
    for variant, url, _, _ in variants:
        sm.create_model(ModelName=f"{config}-{variant}", ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": image, "ModelDataUrl": url,
                                          "Environment": environment or {}})
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[
        {"VariantName": variant, "ModelName": f"{config}-{variant}", "InitialInstanceCount": n,
         "InstanceType": "ml.m5.large", "InitialVariantWeight": weight}
        for variant, _, weight, n in variants])
    name = unique("ep")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    if wait:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            d = sm.describe_endpoint(EndpointName=name)
            if d["EndpointStatus"] != "Creating":
                break
            time.sleep(0.1)
        assert d["EndpointStatus"] == "InService", d.get("FailureReason")
    return name


def csv_rows(X: np.ndarray) -> bytes:
    return "\n".join(",".join(f"{v:.10g}" for v in row) for row in X).encode()


def test_deploy_invoke_delete(cove: Any, s3: Any, bucket: str) -> None:
    import xgboost as xgb

    sm, runtime = cove.client("sagemaker"), cove.client("sagemaker-runtime")
    url, booster, X = xgb_model(s3, bucket)
    name = deploy(sm, [("AllTraffic", url, 1.0, 1)])
    d = sm.describe_endpoint(EndpointName=name)
    assert d["EndpointStatus"] == "InService"
    assert d["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv",
                                    Body=csv_rows(X[:50]))
    assert reply["InvokedProductionVariant"] == "AllTraffic"
    got = np.array([float(v) for v in reply["Body"].read().decode().replace("\n", ",")
                    .split(",") if v])
    np.testing.assert_allclose(got, booster.predict(xgb.DMatrix(X[:50])), rtol=1e-5)
    names = [e["EndpointName"] for e in sm.list_endpoints(NameContains=name)["Endpoints"]]
    assert names == [name]
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name,
                                          WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"1,2,3,4")
    assert err.value.response["Error"]["Code"] == "ValidationError"


def test_bad_requests(cove: Any, s3: Any, bucket: str) -> None:
    sm, runtime = cove.client("sagemaker"), cove.client("sagemaker-runtime")
    url, _, _ = xgb_model(s3, bucket)
    name = deploy(sm, [("AllTraffic", url, 1.0, 1)])
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv",
                                Body=b"1," * (3 * 1024 * 1024 + 10))
    assert err.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"not,numbers")
    assert err.value.response["Error"]["Code"] == "ModelError"
    assert err.value.response["OriginalStatusCode"] == 415
    assert err.value.response["Error"]["Message"].startswith(
        'Received client error (415) from AllTraffic with message "Loading csv data failed')
    started = time.monotonic()  # XGBoost answers an empty body with 204 and no body
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"")
    assert reply["Body"].read() == b"" and time.monotonic() - started < 10
    for headers, member in [({"CustomAttributes": "a" * 1025}, "customAttributes"),
                            ({"InferenceId": "i" * 65}, "inferenceId"),
                            ({"Accept": "text/csv\u00e9"}, "accept"),  # sent UTF-8 encoded
                            ({"ContentType": "text/csv;" * 200}, "contentType"),
                            ({"TargetVariant": "not_a_name"}, "targetVariant")]:
        with pytest.raises(ClientError) as err:
            runtime.invoke_endpoint(EndpointName=name, Body=b"1,2,3,4",
                                    **{"ContentType": "text/csv", **headers})
        assert err.value.response["Error"]["Code"] == "ValidationError"
        assert f"at '{member}' failed to satisfy constraint" in err.value.response["Error"][
            "Message"]
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"1,2,3,4",
                                TargetVariant="nope")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as err:
        sm.create_endpoint(EndpointName=name, EndpointConfigName="missing-config")
    assert "Could not find" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        sm.create_model(ModelName=unique("m"), ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": XGB_IMAGE, "ModelDataUrl": f"s3://{bucket}/no/such/model.tar.gz"})
    assert "does not exist" in err.value.response["Error"]["Message"]
    sm.delete_endpoint(EndpointName=name)


def test_model_fn_that_raises_fails_the_endpoint(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    code = b"def model_fn(model_dir):\n    raise ValueError('weights are corrupt')\n"
    key = f"models/{unique('bad')}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=_tar({"code/inference.py": code}))
    name = deploy(sm, [("AllTraffic", f"s3://{bucket}/{key}", 1.0, 1)], image=SK_IMAGE,
                  environment={"SAGEMAKER_PROGRAM": "inference.py",
                               "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}, wait=False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        d = sm.describe_endpoint(EndpointName=name)
        if d["EndpointStatus"] != "Creating":
            break
        time.sleep(0.2)
    assert d["EndpointStatus"] == "Failed"
    assert "weights are corrupt" in d["FailureReason"]


def test_a_request_that_kills_its_worker_is_a_model_error(cove: Any, s3: Any,
                                                          bucket: str) -> None:
    """...and the worker is restarted, again and again while its model fails to load."""
    sm, runtime = cove.client("sagemaker"), cove.client("sagemaker-runtime")
    code = (b"import os\n\ndef model_fn(model_dir):\n"
            b"    if os.path.exists(os.path.join(model_dir, 'broken')):\n"
            b"        raise RuntimeError('the model is broken right now')\n\n"
            b"def transform_fn(model, body, content_type, accept):\n"
            b"    if body == 'die':\n        os._exit(3)\n    return 'alive', 'text/plain'\n")
    key = f"models/{unique('crash')}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=_tar({"code/inference.py": code}))
    name = deploy(sm, [("AllTraffic", f"s3://{bucket}/{key}", 1.0, 1)], image=SK_IMAGE,
                  environment={"SAGEMAKER_PROGRAM": "inference.py"})
    [model_dir] = [p for p in (cove.home / "artifacts").iterdir()
                   if (p / "code" / "inference.py").is_file()
                   and (p / "code" / "inference.py").read_bytes() == code]
    (model_dir / "broken").write_text("")  # restarts fail until it is gone
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"die")
    assert err.value.response["Error"]["Code"] == "ModelError"
    assert "exited while handling the request" in err.value.response["Error"]["Message"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "could not be restarted" not in _log_text(cove, name):
        time.sleep(0.2)
    assert "the model is broken right now" in _log_text(cove, name)
    (model_dir / "broken").unlink()
    deadline, answer = time.monotonic() + 60, b""
    while time.monotonic() < deadline and answer != b"alive":  # a later attempt succeeds
        try:
            answer = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv",
                                             Body=b"live")["Body"].read()
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ServiceUnavailable", exc.response
            time.sleep(0.2)
    assert answer == b"alive"
    sm.delete_endpoint(EndpointName=name)


def _log_text(cove: Any, endpoint: str) -> str:
    logs, group = cove.client("logs"), f"/aws/sagemaker/Endpoints/{endpoint}"
    return "\n".join(
        event["message"] for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]
        for event in logs.get_log_events(logGroupName=group, logStreamName=stream[
            "logStreamName"], startFromHead=True)["events"])


def test_weighted_variants_and_target_variant(tmp_path: Path) -> None:
    server = CoveServer(tmp_path / "home", {"COVE_ROUTING_SEED": "7"}).start()
    try:
        s3, sm = server.client("s3"), server.client("sagemaker")
        runtime = server.client("sagemaker-runtime")
        s3.create_bucket(Bucket="abtest")
        url_a, _, X = xgb_model(s3, "abtest", seed=0)
        url_b, _, _ = xgb_model(s3, "abtest", seed=100)
        for weights, expected in [((1.0, 1.0), 0.5), ((3.0, 1.0), 0.75)]:
            name = deploy(sm, [("A", url_a, weights[0], 1), ("B", url_b, weights[1], 1)])
            hits = [runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv",
                                            Body=csv_rows(X[:1]))["InvokedProductionVariant"]
                    for _ in range(2000)]
            share = hits.count("A") / len(hits)
            assert abs(share - expected) < 0.05, (weights, share)
            for target in ("A", "B"):
                reply = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv",
                                                Body=csv_rows(X[:1]), TargetVariant=target)
                assert reply["InvokedProductionVariant"] == target
    finally:
        server.stop()


def _load(runtime: Any, name: str, body: bytes, stop: threading.Event,
          results: list[str]) -> None:
    while not stop.is_set():
        try:
            results.append(runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv",
                                                   Body=body)["Body"].read().decode())
        except ClientError as exc:
            results.append(f"ERROR {exc}")


def test_update_endpoint_under_load_loses_nothing(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    url_a, _, X = xgb_model(s3, bucket, seed=0)
    url_b, _, _ = xgb_model(s3, bucket, seed=50)
    name = deploy(sm, [("AllTraffic", url_a, 1.0, 1)])
    old_config = sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    sm.create_model(ModelName=f"{name}-new", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url_b})
    sm.create_endpoint_config(EndpointConfigName=f"{name}-new", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": f"{name}-new", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}])
    stop, results = threading.Event(), []
    clients = [threading.Thread(target=_load, args=(cove.client("sagemaker-runtime"), name,
                                                    csv_rows(X[:1]), stop, results))
               for _ in range(4)]
    for thread in clients:
        thread.start()
    _until(lambda: results, "the load to be answered")
    sm.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-new")
    d = sm.describe_endpoint(EndpointName=name)
    assert d["EndpointStatus"] == "Updating" and d["EndpointConfigName"] == old_config
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name,
                                             WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})
    _until(lambda: len(set(results)) >= 2, "answers from the new model")
    stop.set()
    for thread in clients:
        thread.join()
    assert sm.describe_endpoint(EndpointName=name)["EndpointConfigName"] == f"{name}-new"
    assert results and not [r for r in results if r.startswith("ERROR")]
    assert len(set(results)) == 2  # answers from the old model, then from the new one
    sm.delete_endpoint(EndpointName=name)


def test_worker_killed_under_load_is_restarted(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    url, _, X = xgb_model(s3, bucket)
    name = deploy(sm, [("AllTraffic", url, 1.0, 2)])
    stop, results = threading.Event(), []
    clients = [threading.Thread(target=_load, args=(cove.client("sagemaker-runtime"), name,
                                                    csv_rows(X[:1]), stop, results))
               for _ in range(4)]
    for thread in clients:
        thread.start()
    _until(lambda: results, "the load to be answered")
    victims = _worker_pids(name)
    assert len(victims) == 2
    os.kill(victims[0], signal.SIGKILL)
    _until(lambda: len(_worker_pids(name)) == 2 and victims[0] not in _worker_pids(name),
           "the killed worker to be replaced", timeout=60)
    answered = len(results)
    _until(lambda: len(results) >= answered + 8, "answers after the restart")
    stop.set()
    for thread in clients:
        thread.join()
    assert len(_worker_pids(name)) == 2 and victims[0] not in _worker_pids(name)
    assert results and not [r for r in results if r.startswith("ERROR")]
    sm.delete_endpoint(EndpointName=name)


def _until(predicate: Any, what: str, timeout: float = 60) -> None:
    """Wait for a condition (polling, with a generous deadline for a loaded machine)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _worker_pids(endpoint: str) -> list[int]:
    """Host pids of the endpoint's worker processes (inside bwrap they cannot say which
    endpoint they serve: the mounts of their sandbox can, or without one their command)."""
    table: dict[int, tuple[int, list[bytes]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            table[int(entry.name)] = (int(stat[stat.rindex(")") + 2:].split()[1]), command)
    marker = f"/endpoints/{endpoint}/".encode()

    def serves(pid: int) -> bool:
        while pid in table and pid > 1:
            pid, command = table[pid][0], table[pid][1]
            if any(marker in part for part in command):
                return True
        return False

    def mounts(pid: int) -> bool:
        try:
            return marker in Path(f"/proc/{pid}/mountinfo").read_bytes()
        except OSError:
            return False  # it ended meanwhile

    return sorted(pid for pid, (_, command) in table.items()
                  if b"cove.serving.worker" in command and b"bwrap" not in command[0]
                  and (serves(pid) or mounts(pid) or any(marker in part for part in command)))


def test_restart_brings_endpoints_back(tmp_path: Path) -> None:
    server = CoveServer(tmp_path / "home").start()
    try:
        s3, sm = server.client("s3"), server.client("sagemaker")
        s3.create_bucket(Bucket="back")
        url, _, X = xgb_model(s3, "back")
        name = deploy(sm, [("AllTraffic", url, 1.0, 1)])
        server.restart()
        sm = server.client("sagemaker")
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name,
                                                 WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
        reply = server.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=name, ContentType="text/csv", Body=csv_rows(X[:2]))
        assert reply["Body"].read()
    finally:
        server.stop()


def test_data_capture_writes_sagemaker_jsonl(cove: Any, s3: Any, bucket: str) -> None:
    import json as _json

    sm, runtime = cove.client("sagemaker"), cove.client("sagemaker-runtime")
    url, _, X = xgb_model(s3, bucket)
    sm.create_model(ModelName=f"{bucket}-cap", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url})
    sm.create_endpoint_config(
        EndpointConfigName=f"{bucket}-cap",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": f"{bucket}-cap",
                             "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                           "DestinationS3Uri": f"s3://{bucket}/capture",
                           "CaptureOptions": [{"CaptureMode": "Input"},
                                              {"CaptureMode": "Output"}]})
    name = unique("cap")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{bucket}-cap")
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name,
                                             WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})
    for row in X[:3]:
        runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=csv_rows(row[None]))
    def captured() -> list[Any]:  # the three may be flushed in one file or in several
        keys = sorted(o["Key"] for o in s3.list_objects_v2(
            Bucket=bucket, Prefix=f"capture/{name}/AllTraffic/").get("Contents", []))
        return [_json.loads(line) for key in keys for line in
                s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()]

    _until(lambda: len(captured()) >= 3, "three captured records")
    records = sorted(captured(), key=lambda r: r["eventMetadata"]["inferenceTime"])
    assert len(records) == 3
    first = records[0]["captureData"]
    assert first["endpointInput"]["encoding"] == "CSV"
    assert first["endpointInput"]["data"] == csv_rows(X[:1]).decode()
    assert first["endpointOutput"]["mode"] == "OUTPUT"
    sm.delete_endpoint(EndpointName=name)


def test_idle_endpoints_stop_and_start_again(tmp_path: Path) -> None:
    import subprocess
    import sys

    # Long enough that a loaded machine invokes the new endpoint before it counts as idle.
    server = CoveServer(tmp_path / "home", {"COVE_ENDPOINT_IDLE_TIMEOUT": "10s"}).start()
    try:
        s3, sm = server.client("s3"), server.client("sagemaker")
        runtime = server.client("sagemaker-runtime")
        s3.create_bucket(Bucket="idle")
        url, _, X = xgb_model(s3, "idle")
        name = deploy(sm, [("AllTraffic", url, 1.0, 1)])
        runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=csv_rows(X[:1]))
        env = {**os.environ, "COVE_HOME": str(server.home), "COLUMNS": "250"}

        def cli(*args: str) -> str:
            out = subprocess.run([sys.executable, "-m", "cove", "endpoints", *args], env=env,
                                 text=True, capture_output=True, timeout=120)
            assert out.returncode == 0, out.stderr
            return out.stdout

        listing = cli("ls")  # InService, or already OutOfService on a slow machine
        assert name in listing and ("InService" in listing or "OutOfService" in listing)
        _until(lambda: sm.describe_endpoint(EndpointName=name)["EndpointStatus"] ==
               "OutOfService", "the idle stop", timeout=120)
        assert _worker_pids(name) == []
        with pytest.raises(ClientError) as err:
            runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv",
                                    Body=csv_rows(X[:1]))
        assert "cove endpoints start" in err.value.response["Error"]["Message"]
        assert "InService" in cli("start", name)
        reply = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv",
                                        Body=csv_rows(X[:1]))
        assert reply["Body"].read()
        assert name in cli("ls")
    finally:
        server.stop()


def test_chunked_body_with_expect_continue(cove: Any, s3: Any, bucket: str) -> None:
    """A signed InvokeEndpoint whose body comes chunked after a 100 Continue (what HTTP
    clients streaming a payload send): verified against the whole body, answered."""
    import socket

    import xgboost as xgb
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url, booster, X = xgb_model(s3, bucket)
    name = deploy(cove.client("sagemaker"), [("AllTraffic", url, 1.0, 1)])
    body = csv_rows(X[:3])
    request = AWSRequest("POST", f"{cove.url}/endpoints/{name}/invocations", data=body,
                         headers={"Content-Type": "text/csv", "Accept": "application/json"})
    c = cove.credentials
    SigV4Auth(Credentials(c["access_key_id"], c["secret_access_key"]), "sagemaker",
              "us-east-1").add_auth(request)
    host, port = cove.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall((f"POST /endpoints/{name}/invocations HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      + "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
                      + "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n").encode())
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        half = len(body) // 2
        for piece in (body[:half], body[half:]):
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\n\r\n")
        reply = b""
        while not reply.endswith(b"]}"):
            reply += sock.recv(65536)
    head, _, answer = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    scores = [p["score"] for p in json.loads(answer)["predictions"]]
    np.testing.assert_allclose(scores, booster.predict(xgb.DMatrix(X[:3])), rtol=1e-5)
    cove.client("sagemaker").delete_endpoint(EndpointName=name)

#!/usr/bin/env python3
"""What the gateway and a function add to a prediction: gateway -> function -> endpoint vs
InvokeEndpoint straight to the endpoint, same XGBoost model, same request body.

A cove server is started in a temporary home; an XGBoost ``binary:logistic`` model (``--features``
features, ``--rounds`` trees, trained here on random data) is deployed with boto3 (the SageMaker
XGBoost image); a function whose module-level ``boto3.client("sagemaker-runtime")`` forwards the
request body to the endpoint is put behind an HTTP API (quick create, payload format 2.0).  Each
request is the same CSV row.

  direct   ``POST /endpoints/{name}/invocations``, SigV4-signed (signed once with botocore, then
           sent as is: the server verifies every request, the client does not re-sign)
  gateway  ``POST /gw/{apiId}/predict``, unsigned, as a browser sends it; the function then
           calls InvokeEndpoint with boto3 (signing afresh each time, as user code does)

Both are closed loops over keep-alive HTTP/1.1 connections (http.client, one thread per
connection) at concurrency 1 and 16, ``--seconds`` each after ``--warmup``.  Printed: p50 and p99
of both and their difference.  Target: <= 3 ms added at p50, c=1.  The machine may be shared:
run it more than once.

    .venv/bin/python bench/gateway.py
    .venv/bin/python bench/gateway.py --seconds 5 --concurrency 1,16
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/CoveExecutionRole"
REGION = "us-east-1"

FUNCTION = """
import os
import boto3

runtime = boto3.client("sagemaker-runtime")
ENDPOINT = os.environ["ENDPOINT"]

def handler(event, context):
    answer = runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv",
                                     Body=event["body"])
    return {"statusCode": 200, "headers": {"content-type": "text/csv"},
            "body": answer["Body"].read().decode()}
"""


def start_cove(home: Path, concurrency: int = 16) -> tuple[subprocess.Popen[bytes], str,
                                                           dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "COVE_"))}
    # As many function workers as the load's connections: none is refused (429 -> 503).
    env["COVE_FUNCTION_CONCURRENCY"] = str(concurrency)
    log = open(home.parent / "cove.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen([sys.executable, "-m", "cove", "up", "--port", "0"],
                            env={**env, "COVE_HOME": str(home)}, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"cove exited; see {home.parent / 'cove.log'}")
        try:
            record = json.loads((home / "server.json").read_text())
            if record["pid"] == proc.pid:
                return proc, record["url"], json.loads((home / "credentials.json").read_text())
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise SystemExit("cove did not start")


def client(url: str, creds: dict[str, str], service: str) -> Any:
    import boto3

    return boto3.session.Session().client(
        service, endpoint_url=url, region_name=REGION,
        aws_access_key_id=creds["access_key_id"],
        aws_secret_access_key=creds["secret_access_key"])


def model_tar(features: int, rounds: int) -> tuple[bytes, bytes]:
    """The model.tar.gz and one request row."""
    import xgboost as xgb

    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, size=(2000, features)).astype(np.float32)
    y = (X[:, :10].sum(axis=1) > 10).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 6}, xgb.DMatrix(X, y),
                        rounds)
    buffer = io.BytesIO()
    raw = bytes(booster.save_raw(raw_format="ubj"))
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    row = ",".join(str(int(v)) for v in X[0]).encode()
    return buffer.getvalue(), row


def deploy(url: str, creds: dict[str, str], tar: bytes) -> str:
    s3, sm = client(url, creds, "s3"), client(url, creds, "sagemaker")
    s3.create_bucket(Bucket="bench")
    s3.put_object(Bucket="bench", Key="model.tar.gz", Body=tar)
    sm.create_model(ModelName="bench", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": XGB_IMAGE, "ModelDataUrl": "s3://bench/model.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName="bench", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "bench", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="bench", EndpointConfigName="bench")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="bench",
                                              WaiterConfig={"Delay": 0.2})
    return "bench"


def gateway(url: str, creds: dict[str, str], endpoint: str) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("predict.py", FUNCTION)
    lam = client(url, creds, "lambda")
    arn = lam.create_function(FunctionName="predict", Runtime="python3.11", Role=ROLE,
                              Handler="predict.handler", Timeout=30, MemorySize=1024,
                              Environment={"Variables": {"ENDPOINT": endpoint}},
                              Code={"ZipFile": buffer.getvalue()})["FunctionArn"]
    api = client(url, creds, "apigatewayv2").create_api(
        Name="bench", ProtocolType="HTTP", Target=arn, RouteKey="POST /predict")
    return str(api["ApiEndpoint"]) + "/predict"


def signed_direct(url: str, creds: dict[str, str], endpoint: str,
                  body: bytes) -> tuple[str, dict[str, str]]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    path = f"/endpoints/{endpoint}/invocations"
    request = AWSRequest("POST", url + path, data=body, headers={
        "Content-Type": "text/csv", "Host": urlparse(url).netloc})
    SigV4Auth(Credentials(creds["access_key_id"], creds["secret_access_key"]), "sagemaker",
              REGION).add_auth(request)
    return path, dict(request.headers.items())


def closed_loop(host: str, port: int, path: str, headers: dict[str, str], body: bytes,
                concurrency: int, seconds: float, warmup: float,
                check: Callable[[bytes], None]) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    start = time.monotonic()
    stop_at = start + warmup + seconds

    def run() -> None:
        conn = http.client.HTTPConnection(host, port)
        mine: list[float] = []
        while True:
            began = time.perf_counter()
            if time.monotonic() > stop_at:
                break
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                raise SystemExit(f"{path}: HTTP {response.status}: {data[:300]!r}")
            elapsed = time.perf_counter() - began
            if time.monotonic() - start > warmup:
                mine.append(elapsed)
        check(data)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--features", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory(prefix="cove-bench-gateway-") as tmp:
        home = Path(tmp) / "home"
        proc, url, creds = start_cove(home, max(levels))
        try:
            return run(args, levels, url, creds)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)


def run(args: argparse.Namespace, levels: list[int], url: str, creds: dict[str, str]) -> int:
    tar, row = model_tar(args.features, args.rounds)
    endpoint = deploy(url, creds, tar)
    public = urlparse(gateway(url, creds, endpoint))
    direct_path, direct_headers = signed_direct(url, creds, endpoint, row)
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    expected: list[bytes] = []

    def check(data: bytes) -> None:
        if not expected:
            expected.append(data)
        elif data.strip() != expected[0].strip():
            raise SystemExit(f"answers differ: {data!r} vs {expected[0]!r}")

    print(f"model: XGBoost binary:logistic, {args.features} features, {args.rounds} trees; "
          f"{args.seconds:g} s per point after {args.warmup:g} s warm-up\n")
    print(f"{'c':>3}  {'path':<8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    added: dict[int, tuple[float, float]] = {}
    for c in levels:
        results = {}
        for name, path, headers in (
                ("direct", direct_path, direct_headers),
                ("gateway", public.path, {"Content-Type": "text/csv"})):
            latencies = closed_loop(host, port, path, headers, row, c, args.seconds,
                                    args.warmup, check)
            p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
            results[name] = (p50, p99)
            print(f"{c:>3}  {name:<8} {len(latencies) / args.seconds:>8.0f} {p50:>8.2f} "
                  f"{p99:>8.2f}", flush=True)
        added[c] = (results["gateway"][0] - results["direct"][0],
                    results["gateway"][1] - results["direct"][1])
    print()
    for c, (p50, p99) in added.items():
        print(f"c={c}: the gateway and the function add {p50:.2f} ms at p50, {p99:.2f} ms at p99")
    if 1 in added:
        ok = added[1][0] <= 3.0
        print(f"target <= 3 ms added at p50, c=1: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Training-job overhead: what cove adds around the work a job does.

1. A no-op script-mode job: CreateTrainingJob → Completed (polling DescribeTrainingJob every
   10 ms), minus the time of running the same script directly with the same interpreter.
   Target: ≤ 0.5 s median overhead (SageMaker: minutes).
2. The built-in XGBoost on a 15,000 × 5,000 sparse (bag-of-words-like) libsvm data set, job
   create → Completed, against ``xgboost.train`` in-process on the same data and parameters.
   Target: ≤ 1.2×.

    python bench/training_overhead.py [--runs 10] [--rows 15000] [--cols 5000] [--rounds 500]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from botocore.config import Config

ROLE = "arn:aws:iam::123456789012:role/CoveExecutionRole"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
NOOP = "print('nothing to do')\n"


def start_cove(home: Path, env: dict[str, str] | None = None,
               timeout: float = 30.0) -> tuple[subprocess.Popen[bytes], str]:
    """``cove up`` on a free port in ``home`` (with ``env`` added); its process and URL."""
    proc = subprocess.Popen([sys.executable, "-m", "cove", "up", "--port", "0"],
                            env={**os.environ, "COVE_HOME": str(home), **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(int(timeout / 0.05)):
        try:
            record = json.loads((home / "server.json").read_text())
            urllib.request.urlopen(record["url"] + "/_cove/health", timeout=1)
            return proc, record["url"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    raise SystemExit("cove did not start")


def clients(home: Path, url: str) -> tuple[Any, Any]:
    creds = json.loads((home / "credentials.json").read_text())
    kwargs = {"endpoint_url": url, "region_name": "us-east-1",
              "aws_access_key_id": creds["access_key_id"],
              "aws_secret_access_key": creds["secret_access_key"],
              "config": Config(s3={"addressing_style": "path"})}
    return boto3.client("s3", **kwargs), boto3.client("sagemaker", **kwargs)


def run_job(sm: Any, request: dict[str, Any], poll: float = 0.01) -> float:
    start = time.perf_counter()
    sm.create_training_job(**request)
    while True:
        d = sm.describe_training_job(TrainingJobName=request["TrainingJobName"])
        if d["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(poll)
    elapsed = time.perf_counter() - start
    phases = d["SecondaryStatusTransitions"]
    run_job.last_phases = {t["Status"]: (t.get("EndTime", t["StartTime"]) - t["StartTime"])  # type: ignore[attr-defined]
                           .total_seconds() for t in phases}
    if d["TrainingJobStatus"] != "Completed":
        raise SystemExit(f"{request['TrainingJobName']}: {d.get('FailureReason')}")
    return elapsed


def job(name: str, image: str, hyperparameters: dict[str, str],
        channels: dict[str, str], instance_type: str = "ml.m5.xlarge") -> dict[str, Any]:
    request = {
        "TrainingJobName": name, "RoleArn": ROLE, "HyperParameters": hyperparameters,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://bench/output"},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": 1,
                           "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600}}
    if channels:
        request["InputDataConfig"] = [
            {"ChannelName": ch, "ContentType": "text/libsvm", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": uri}}} for ch, uri in channels.items()]
    return request


def upload_script(s3: Any, key: str, text: str) -> str:
    """``text`` as ``train.py`` in a source tarball at ``s3://bench/<key>``; its URI."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text.encode()))
    s3.put_object(Bucket="bench", Key=key, Body=buffer.getvalue())
    return f"s3://bench/{key}"


def noop_overhead(s3: Any, sm: Any, runs: int, tmp: Path,
                  warmup: int = 0) -> dict[str, float]:
    """Medians of ``runs`` no-op jobs (after ``warmup`` unmeasured ones: the first jobs of a
    fresh server share its first second): job, script alone, and each phase of the job."""
    upload_script(s3, "noop/sourcedir.tar.gz", NOOP)
    (tmp / "train.py").write_text(NOOP)
    for i in range(warmup):
        run_job(sm, job(f"warmup-{i}-{int(time.time())}", SKLEARN, {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://bench/noop/sourcedir.tar.gz"'}, {}))
    direct, jobs, phases = [], [], []
    for i in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, str(tmp / "train.py")], check=True,
                       stdout=subprocess.DEVNULL)
        direct.append(time.perf_counter() - start)
        jobs.append(run_job(sm, job(f"noop-{i}-{int(time.time())}", SKLEARN, {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://bench/noop/sourcedir.tar.gz"'}, {})))
        phases.append(run_job.last_phases)  # type: ignore[attr-defined]
    medians = {f"phase {name}": statistics.median(p.get(name, 0.0) for p in phases)
               for name in phases[0]} if phases else {}
    return {"direct": statistics.median(direct), "job": statistics.median(jobs), **medians}


def sparse_libsvm(rows: int, cols: int, path: Path) -> tuple[Any, np.ndarray]:
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    X = sp.random(rows, cols, density=0.01, format="csr", random_state=0,
                  data_rvs=lambda n: rng.integers(1, 4, n)).astype(np.float32)
    w = rng.normal(size=cols)
    y = (X @ w + rng.normal(scale=0.5, size=rows) > 0).astype(np.float32)
    from sklearn.datasets import dump_svmlight_file

    dump_svmlight_file(X, y, str(path), zero_based=True)
    return X, y


def xgboost_ratio(s3: Any, sm: Any, rows: int, cols: int, rounds: int,
                  tmp: Path) -> dict[str, float]:
    import xgboost as xgb

    path = tmp / "train.libsvm"
    X, y = sparse_libsvm(rows, cols, path)
    s3.upload_file(str(path), "bench", "xgb/train/train.libsvm")
    params = {"objective": "binary:logistic", "max_depth": 5, "eta": 0.2, "gamma": 4,
              "min_child_weight": 6, "subsample": 0.8, "seed": 0, "verbosity": 0}
    start = time.perf_counter()
    dtrain = xgb.DMatrix(f"{path}?format=libsvm")
    xgb.train(params, dtrain, num_boost_round=rounds, evals=[(dtrain, "train")],
              verbose_eval=False)
    in_process = time.perf_counter() - start
    hps = {k: str(v) for k, v in params.items() if k != "verbosity"} | {"num_round": str(rounds)}
    # Poll gently here: a busy poll would take CPU from the job it measures.
    elapsed = run_job(sm, job(f"xgb-{int(time.time())}", XGBOOST, hps,
                              {"train": "s3://bench/xgb/train"}), poll=0.1)
    print("  job phases (s):", {k: round(v, 3) for k, v in run_job.last_phases.items()})  # type: ignore[attr-defined]
    return {"in_process": in_process, "job": elapsed}


INFERENCE = b"""
def model_fn(model_dir):
    return "ready"

def transform_fn(model, body, content_type, accept):
    return model, "text/plain"
"""


def endpoint_times(s3: Any, sm: Any, trials: int) -> list[float]:
    """CreateEndpoint -> InService for a script-mode model (its worker starts in the sandbox),
    polling every 10 ms; each endpoint is deleted before the next."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("code/inference.py")
        info.size = len(INFERENCE)
        tar.addfile(info, io.BytesIO(INFERENCE))
    s3.put_object(Bucket="bench", Key="endpoint/model.tar.gz", Body=buffer.getvalue())
    sm.create_model(ModelName="bench-noop", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": SKLEARN, "ModelDataUrl": "s3://bench/endpoint/model.tar.gz", "Environment": {
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
    sm.create_endpoint_config(EndpointConfigName="bench-noop", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "bench-noop", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    times = []
    for trial in range(trials):
        name = f"bench-noop-{trial}"
        started = time.perf_counter()
        sm.create_endpoint(EndpointName=name, EndpointConfigName="bench-noop")
        while (status := sm.describe_endpoint(EndpointName=name))["EndpointStatus"] == "Creating":
            time.sleep(0.01)
        if status["EndpointStatus"] != "InService":
            raise SystemExit(f"{name}: {status.get('FailureReason')}")
        times.append(time.perf_counter() - started)
        sm.delete_endpoint(EndpointName=name)
        sm.get_waiter("endpoint_deleted").wait(EndpointName=name,
                                               WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=0,
                        help="no-op jobs run first and not measured [0]")
    parser.add_argument("--rows", type=int, default=15000)
    parser.add_argument("--cols", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--endpoints", type=int, default=3,
                        help="CreateEndpoint -> InService trials (script-mode model)")
    parser.add_argument("--no-xgboost", action="store_true", help="skip part 2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        proc, url = start_cove(tmp / "home")
        try:
            s3, sm = clients(tmp / "home", url)
            s3.create_bucket(Bucket="bench")
            noop = noop_overhead(s3, sm, args.runs, tmp, args.warmup)
            deploys = endpoint_times(s3, sm, args.endpoints)
            xgb_times = None if args.no_xgboost else xgboost_ratio(
                s3, sm, args.rows, args.cols, args.rounds, tmp)
        finally:
            proc.terminate()
            proc.wait(30)
    overhead = noop["job"] - noop["direct"]
    print(f"no-op script job: median {noop['job']*1000:.0f} ms create→Completed, "
          f"script alone {noop['direct']*1000:.0f} ms → overhead {overhead*1000:.0f} ms "
          f"(target ≤ 500 ms: {'ok' if overhead <= 0.5 else 'MISS'})")
    print("  its phases, median ms: " + ", ".join(
        f"{k.removeprefix('phase ')} {v * 1000:.1f}" for k, v in noop.items()
        if k.startswith("phase ")))
    if deploys:
        median = statistics.median(deploys)
        print(f"CreateEndpoint → InService (script-mode model): median {median:.2f} s over "
              f"{len(deploys)} (target ≤ 2 s: {'ok' if median <= 2 else 'MISS'})")
    if xgb_times is None:
        return
    ratio = xgb_times["job"] / xgb_times["in_process"]
    print(f"XGBoost {args.rows}×{args.cols} sparse, {args.rounds} rounds: job "
          f"{xgb_times['job']:.2f} s, in-process {xgb_times['in_process']:.2f} s → "
          f"{ratio:.2f}× (target ≤ 1.2×: {'ok' if ratio <= 1.2 else 'MISS'})")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The Ray executor against the local one, on this machine.

A loopback Ray cluster is started (``python -m cove.executors.loopback_cluster``: a head and a
second node, ``--cpus`` logical CPUs each) and two cove servers in temporary homes, one per
executor.  Then:

1. No-op job overhead: a script-mode job whose script prints one line, CreateTrainingJob ->
   Completed (DescribeTrainingJob polled every 10 ms), median of ``--runs``, on each executor.
2. Tuning throughput: ``--trials`` trials (Random search, each trial a script that works for
   ``--trial-seconds`` seconds) with MaxParallelTrainingJobs 4 on the 2-node cluster against
   MaxParallelTrainingJobs 2 on the local executor; wall time from create to Completed.

Printed: each figure and the ratios Ray/local.  The machine may be shared: run it more than
once.  ml.m5.large hosts (2 CPUs each) fit ``--cpus`` / 2 per node.

    .venv/bin/python bench/ray_executor.py [--runs 5] [--trials 20] [--trial-seconds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from training_overhead import NOOP, SKLEARN, clients, job, run_job, start_cove, upload_script

TRIAL = """
import argparse, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
parser.add_argument("--seconds", type=float)
args, _ = parser.parse_known_args()
time.sleep(args.seconds)
print(f"loss: {(args.x - 3) ** 2:.6f}", flush=True)
"""


def start_cluster(temp: Path, cpus: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cove.executors.loopback_cluster", "--temp-dir", str(temp),
         "--head", json.dumps({"num_cpus": cpus, "memory": cpus * 4 << 30}),
         "--node", json.dumps({"num_cpus": cpus, "memory": cpus * 4 << 30,
                               "resources": {"node2": 1}})],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    if not address:
        raise SystemExit("the Ray cluster did not start")
    return proc, address


def noop_job(s3: Any, sm: Any, runs: int) -> float:
    static = {"sagemaker_program": '"train.py"', "sagemaker_submit_directory":
              f'"{upload_script(s3, "noop/sourcedir.tar.gz", NOOP)}"'}
    return statistics.median(
        run_job(sm, job(f"noop-{i}-{int(time.time() * 1000)}", SKLEARN, static, {},
                        "ml.m5.large"))
        for i in range(runs))


def tuning(s3: Any, sm: Any, trials: int, parallel: int, seconds: float) -> float:
    source = upload_script(s3, "trial/sourcedir.tar.gz", TRIAL)
    base = {k: v for k, v in job("", SKLEARN, {}, {}, "ml.m5.large").items()
            if k in ("RoleArn", "OutputDataConfig", "ResourceConfig", "StoppingCondition")}
    static = {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": f'"{source}"',
              "seconds": str(seconds)}
    name = f"tune-{parallel}-{int(time.time())}"
    start = time.perf_counter()
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig={
            "Strategy": "Random", "RandomSeed": 1,
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": trials,
                               "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {"ContinuousParameterRanges": [
                {"Name": "x", "MinValue": "0", "MaxValue": "6", "ScalingType": "Linear"}]}},
        TrainingJobDefinition={
            "StaticHyperParameters": static,
            "AlgorithmSpecification": {"TrainingImage": SKLEARN, "TrainingInputMode": "File",
                                       "MetricDefinitions": [{"Name": "loss",
                                                              "Regex": r"loss: ([0-9.]+)"}]},
            **base})
    while (d := sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name))[
            "HyperParameterTuningJobStatus"] not in ("Completed", "Failed", "Stopped"):
        time.sleep(0.2)
    if d["TrainingJobStatusCounters"]["Completed"] != trials:
        raise SystemExit(f"{name}: {d['TrainingJobStatusCounters']}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--trial-seconds", type=float, default=2.0)
    parser.add_argument("--cpus", type=int, default=4, help="logical CPUs of each Ray node")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cbr-") as tmp:
        root = Path(tmp)
        cluster, address = start_cluster(root / "ray", args.cpus)
        servers = []
        try:
            results: dict[str, dict[str, float]] = {}
            for executor, parallel in (("local", 2), ("ray", 4)):
                env = {"COVE_EXECUTOR": executor, "COVE_RAY_ADDRESS": address}
                proc, url = start_cove(root / executor, env, timeout=60)
                servers.append(proc)
                s3, sm = clients(root / executor, url)
                s3.create_bucket(Bucket="bench")
                noop_job(s3, sm, 1)  # warm: the first job pays imports (and Ray's workers)
                results[executor] = {
                    "noop": noop_job(s3, sm, args.runs),
                    "tuning": tuning(s3, sm, args.trials, parallel, args.trial_seconds)}
                print(f"{executor:5}  no-op job {results[executor]['noop']:.2f} s (median of "
                      f"{args.runs})   {args.trials} trials at MaxParallel {parallel}: "
                      f"{results[executor]['tuning']:.1f} s", flush=True)
        finally:
            for proc in servers:
                proc.terminate()
                proc.wait(60)
            cluster.terminate()
            cluster.wait(60)
    local, ray = results["local"], results["ray"]
    print(f"no-op job overhead  ray/local = {ray['noop'] / local['noop']:.2f}x "
          f"(+{ray['noop'] - local['noop']:.2f} s)")
    print(f"tuning wall time    ray(MaxParallel 4, 2 nodes)/local(MaxParallel 2) = "
          f"{ray['tuning'] / local['tuning']:.2f}x "
          f"(speed-up {local['tuning'] / ray['tuning']:.2f}x)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Pipeline overhead: a 5-step pipeline of no-op training steps (each depends on the one
before) against the same five jobs run one after another by hand (create, poll to Completed,
then the next), in one run, side by side.

Target: ≤ 0.5 s of pipeline overhead per step (SageMaker: tens of seconds per step).

Also the server's CPU while an execution waits on a long job (the engine's idle cost: it
wakes on job ends, and polls only as a fallback), against the same server with nothing to do.

    python bench/pipelines.py [--runs 3] [--steps 5] [--idle-seconds 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from training_overhead import NOOP, ROLE, SKLEARN, clients, run_job, start_cove, upload_script


def training(name: str, source: str) -> dict[str, Any]:
    return {"TrainingJobName": name, "RoleArn": ROLE,
            "HyperParameters": {"sagemaker_program": '"train.py"',
                                "sagemaker_submit_directory": json.dumps(source)},
            "AlgorithmSpecification": {"TrainingImage": SKLEARN, "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": "s3://bench/pipeline-output"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                               "VolumeSizeInGB": 5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600}}


def by_hand(sm: Any, source: str, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        run_job(sm, training(f"hand-{uuid.uuid4().hex[:10]}", source))
    return time.perf_counter() - start


def pipeline(sm: Any, source: str, steps: int) -> float:
    arn = _start(sm, source, steps)
    start = time.perf_counter()
    status = _wait(sm, arn)
    elapsed = time.perf_counter() - start
    if status != "Succeeded":
        raise SystemExit(f"the pipeline ended {status}")
    return elapsed


def idle_cost(sm: Any, source: str, pid: int, seconds: float) -> tuple[float, float]:
    """Server CPU seconds per second: with nothing to do, then with one execution waiting on
    a training job that sleeps."""
    before = _cpu(pid)
    time.sleep(seconds)
    idle = (_cpu(pid) - before) / seconds
    arn = _start(sm, source, 1)
    while not sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)[
            "PipelineExecutionSteps"]:
        time.sleep(0.05)
    time.sleep(1.0)  # past the job's start
    before = _cpu(pid)
    time.sleep(seconds)
    waiting = (_cpu(pid) - before) / seconds
    sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)
    _wait(sm, arn)
    return idle, waiting


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait(sm: Any, arn: str) -> str:
    while True:
        status: str = sm.describe_pipeline_execution(PipelineExecutionArn=arn)[
            "PipelineExecutionStatus"]
        if status not in ("Executing", "Stopping"):
            return status
        time.sleep(0.01)


def _start(sm: Any, source: str, steps: int) -> str:
    definition = []
    for i in range(steps):
        arguments = training("unused", source)
        del arguments["TrainingJobName"]
        step: dict[str, Any] = {"Name": f"Step{i}", "Type": "Training", "Arguments": arguments}
        if i:
            step["DependsOn"] = [f"Step{i - 1}"]
        definition.append(step)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=json.dumps(
        {"Version": "2020-12-01", "Parameters": [], "Steps": definition}))
    arn: str = sm.start_pipeline_execution(
        PipelineName=name, ClientRequestToken=uuid.uuid4().hex)["PipelineExecutionArn"]
    return arn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=8.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        proc, url = start_cove(home)
        try:
            s3, sm = clients(home, url)
            s3.create_bucket(Bucket="bench")
            source = upload_script(s3, "noop/sourcedir.tar.gz", NOOP)
            by_hand(sm, source, 1)  # warm: the script-mode environment, imports
            hand = [by_hand(sm, source, args.steps) for _ in range(args.runs)]
            piped = [pipeline(sm, source, args.steps) for _ in range(args.runs)]
            sleeper = upload_script(s3, "sleep/sourcedir.tar.gz",
                                    f"import time\ntime.sleep({args.idle_seconds + 30})\n")
            idle, waiting = idle_cost(sm, sleeper, proc.pid, args.idle_seconds)
        finally:
            proc.terminate()
            proc.wait()
    h, p = statistics.median(hand), statistics.median(piped)
    per_step = (p - h) / args.steps
    print(f"{args.steps} no-op training steps, median of {args.runs}:")
    print(f"  by hand (create, poll, next): {h:.2f} s")
    print(f"  as a pipeline:                {p:.2f} s  ({p / h:.2f}×)")
    print(f"  pipeline overhead per step:   {per_step * 1000:.0f} ms "
          f"(target ≤ 500 ms: {'ok' if per_step <= 0.5 else 'MISS'})")
    print(f"server CPU, nothing to do:            {idle * 1000:.0f} ms/s")
    print(f"server CPU, an execution waits on a job: {waiting * 1000:.0f} ms/s")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

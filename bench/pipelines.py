#!/usr/bin/env python3
"""Pipeline overhead: a 5-step pipeline of no-op training steps (each depends on the one
before) against the same five jobs run one after another by hand (create, poll to Completed,
then the next), in one run, side by side.

Target: ≤ 0.5 s of pipeline overhead per step (SageMaker: tens of seconds per step).

    python bench/pipelines.py [--runs 3] [--steps 5]
"""

from __future__ import annotations

import argparse
import json
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
    start = time.perf_counter()
    arn = sm.start_pipeline_execution(PipelineName=name, ClientRequestToken=uuid.uuid4().hex)[
        "PipelineExecutionArn"]
    while True:
        status = sm.describe_pipeline_execution(PipelineExecutionArn=arn)[
            "PipelineExecutionStatus"]
        if status != "Executing":
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    if status != "Succeeded":
        raise SystemExit(f"the pipeline ended {status}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
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


if __name__ == "__main__":
    main()

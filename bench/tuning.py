#!/usr/bin/env python3
"""Hyperparameter tuning: how well cove keeps its trial slots busy, and how well it searches.

(a) Efficiency — one tuning job of 20 built-in XGBoost trials, 2 at a time, against the ideal:
    the sum of the trials' own run times (TrainingStartTime → TrainingEndTime) divided by 2.
    Target: ideal / actual ≥ 0.9.
(b) Quality — XGBoost regression on scikit-learn's diabetes data (it ships with scikit-learn:
    no download), objective validation:rmse; the best objective after 20 trials for Bayesian
    and for Random, over 5 seeds.  Bayesian should win on average.

Both run through cove's API exactly as a user's tuning job does (real training jobs).

    python bench/tuning.py [--trials 20] [--parallel 2] [--seeds 5] [--skip-quality]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from training_overhead import ROLE, XGBOOST, clients, start_cove  # noqa: E402

BUCKET = "bench-tuning"
RANGES = {
    "ContinuousParameterRanges": [
        {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"},
        {"Name": "subsample", "MinValue": "0.5", "MaxValue": "1", "ScalingType": "Linear"},
        {"Name": "lambda", "MinValue": "0.01", "MaxValue": "10", "ScalingType": "Logarithmic"}],
    "IntegerParameterRanges": [
        {"Name": "max_depth", "MinValue": "1", "MaxValue": "8", "ScalingType": "Linear"},
        {"Name": "min_child_weight", "MinValue": "1", "MaxValue": "20",
         "ScalingType": "Linear"}],
}


def upload_diabetes(s3: Any) -> None:
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    cut = int(len(y) * 0.7)
    s3.create_bucket(Bucket=BUCKET)
    for channel, rows in (("train", slice(0, cut)), ("validation", slice(cut, None))):
        buffer = io.StringIO()
        np.savetxt(buffer, np.column_stack([y[rows], X[rows]]), delimiter=",", fmt="%.8g")
        s3.put_object(Bucket=BUCKET, Key=f"diabetes/{channel}/data.csv",
                      Body=buffer.getvalue().encode())


def tuning_request(name: str, strategy: str, trials: int, parallel: int,
                   seed: int) -> dict[str, Any]:
    channels = [{"ChannelName": ch, "ContentType": "text/csv", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/diabetes/{ch}",
        "S3DataDistributionType": "FullyReplicated"}}} for ch in ("train", "validation")]
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy, "RandomSeed": seed,
            "HyperParameterTuningJobObjective": {"Type": "Minimize",
                                                 "MetricName": "validation:rmse"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": trials,
                               "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": RANGES},
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"objective": "reg:squarederror", "num_round": "100"},
            "AlgorithmSpecification": {"TrainingImage": XGBOOST, "TrainingInputMode": "File"},
            "RoleArn": ROLE, "InputDataConfig": channels,
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                               "VolumeSizeInGB": 5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600}},
    }


def run_tuning(sm: Any, request: dict[str, Any]) -> dict[str, Any]:
    sm.create_hyper_parameter_tuning_job(**request)
    name = request["HyperParameterTuningJobName"]
    while True:
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if d["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(0.5)
    if d["HyperParameterTuningJobStatus"] != "Completed":
        raise SystemExit(f"{name}: {d['HyperParameterTuningJobStatus']} "
                         f"{d.get('FailureReason', '')}")
    return d  # type: ignore[no-any-return]


def trials_of(sm: Any, name: str) -> list[dict[str, Any]]:
    pages = sm.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
        HyperParameterTuningJobName=name)
    return [s for page in pages for s in page["TrainingJobSummaries"]]


def efficiency(sm: Any, trials: int, parallel: int) -> None:
    d = run_tuning(sm, tuning_request("efficiency", "Bayesian", trials, parallel, 1))
    jobs = trials_of(sm, "efficiency")
    own = [(j["TrainingEndTime"] - j["TrainingStartTime"]).total_seconds() for j in jobs]
    actual = (d["HyperParameterTuningEndTime"] - d["CreationTime"]).total_seconds()
    ideal = sum(own) / parallel
    print(f"(a) efficiency: {len(jobs)} XGBoost trials, {parallel} at a time")
    print(f"    trial run time: median {statistics.median(own):.2f} s, sum {sum(own):.1f} s")
    print(f"    tuning job create → Completed: {actual:.1f} s; ideal (sum / {parallel}): "
          f"{ideal:.1f} s")
    print(f"    ideal / actual = {ideal / actual:.2f}×  (target ≥ 0.9×)")


def quality(sm: Any, trials: int, parallel: int, seeds: int) -> None:
    best: dict[str, list[float]] = {"Bayesian": [], "Random": []}
    print(f"(b) quality: best validation:rmse after {trials} trials (diabetes, XGBoost)")
    print(f"    {'seed':>4}  {'Bayesian':>9}  {'Random':>9}")
    for seed in range(seeds):
        for strategy in best:
            d = run_tuning(sm, tuning_request(f"q-{strategy[:3].lower()}-{seed}", strategy,
                                              trials, parallel, seed))
            best[strategy].append(
                d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
        print(f"    {seed:>4}  {best['Bayesian'][-1]:>9.3f}  {best['Random'][-1]:>9.3f}")
    bayes, rand = statistics.fmean(best["Bayesian"]), statistics.fmean(best["Random"])
    wins = sum(b < r for b, r in zip(best["Bayesian"], best["Random"], strict=True))
    print(f"    mean  {bayes:>9.3f}  {rand:>9.3f}   Bayesian better on {wins}/{seeds} seeds; "
          f"mean Random / Bayesian = {rand / bayes:.3f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-efficiency", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cove-bench-tuning-") as tmp:
        proc, url = start_cove(Path(tmp) / "home")
        try:
            s3, sm = clients(Path(tmp) / "home", url)
            upload_diabetes(s3)
            if not args.skip_efficiency:
                efficiency(sm, args.trials, args.parallel)
            if not args.skip_quality:
                quality(sm, args.trials, args.parallel, args.seeds)
        finally:
            proc.terminate()
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()

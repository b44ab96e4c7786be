"""Hyperparameter tuning jobs through boto3: search strategies, counters, early stopping,
failures, stop, warm start, completion criteria, and a restart in the middle."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.training.helpers import log_lines, unique, wait_for
from tests.tuning.helpers import config, definition, source, training_jobs, wait_tuning


@pytest.fixture
def sm(cove: Any) -> Any:
    return cove.client("sagemaker")


def _create(sm: Any, name: str, cfg: dict[str, Any], definition: dict[str, Any],
            **extra: Any) -> None:
    sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name,
                                         HyperParameterTuningJobConfig=cfg,
                                         TrainingJobDefinition=definition, **extra)


def _objective(summary: dict[str, Any]) -> float:
    return float(summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])


def test_random_search_runs_trials_as_training_jobs(sm: Any, s3: Any, bucket: str) -> None:
    name = unique("rnd")
    _create(sm, name, config("Random", max_jobs=6, parallel=2, RandomSeed=7),
            definition(bucket, source(s3, bucket), {"sleep": "0.1"}))
    d = wait_tuning(sm, name)
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["TrainingJobStatusCounters"] == {"Completed": 6, "InProgress": 0,
                                              "RetryableError": 0, "NonRetryableError": 0,
                                              "Stopped": 0}
    assert d["ObjectiveStatusCounters"] == {"Succeeded": 6, "Pending": 0, "Failed": 0}
    assert d["TrainingJobDefinition"]["StaticHyperParameters"]["_tuning_objective_metric"] == \
        "loss"
    jobs = training_jobs(sm, name)
    assert len(jobs) == 6
    for number, job in enumerate(jobs, start=1):
        assert re.fullmatch(rf"{name}-{number:03d}-[0-9a-f]{{8}}", job["TrainingJobName"])
        assert set(job["TunedHyperParameters"]) == {"x", "y"}
        assert 0 <= float(job["TunedHyperParameters"]["x"]) <= 6
        expected = (float(job["TunedHyperParameters"]["x"]) - 3) ** 2 + 10 / 3 + (
            5 if job["TunedHyperParameters"]["y"] == "b" else 0)
        assert _objective(job) == pytest.approx(expected, abs=1e-5)
        training = sm.describe_training_job(TrainingJobName=job["TrainingJobName"])
        assert training["TuningJobArn"] == d["HyperParameterTuningJobArn"]
        assert training["HyperParameters"]["_tuning_objective_metric"] == "loss"
    best = min(jobs, key=_objective)
    assert d["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]
    assert d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "Type": "Minimize", "MetricName": "loss", "Value": _objective(best)}
    # never more than MaxParallelTrainingJobs at once
    spans = [(sm.describe_training_job(TrainingJobName=j["TrainingJobName"])["CreationTime"],
              j["TrainingEndTime"]) for j in jobs]
    for start, _ in spans:
        assert sum(1 for s, e in spans if s <= start < e) <= 2
    ordered = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, SortBy="FinalObjectiveMetricValue",
        SortOrder="Ascending", MaxResults=100)["TrainingJobSummaries"]
    assert [_objective(j) for j in ordered] == sorted(_objective(j) for j in jobs)
    listed = sm.list_hyper_parameter_tuning_jobs(NameContains=name)
    summary = listed["HyperParameterTuningJobSummaries"][0]
    assert summary["HyperParameterTuningJobName"] == name and summary["Strategy"] == "Random"
    assert summary["TrainingJobStatusCounters"]["Completed"] == 6


def test_random_seed_makes_a_run_reproducible(sm: Any, s3: Any, bucket: str) -> None:
    src = source(s3, bucket)
    points = []
    for _ in range(2):
        name = unique("seed")
        _create(sm, name, config("Random", max_jobs=3, parallel=3, RandomSeed=1234),
                definition(bucket, src, {"epochs": "1"}))
        assert wait_tuning(sm, name)["HyperParameterTuningJobStatus"] == "Completed"
        points.append([j["TunedHyperParameters"] for j in training_jobs(sm, name)])
    assert points[0] == points[1]


def test_grid_runs_every_combination_in_order_capped(sm: Any, s3: Any, bucket: str) -> None:
    ranges = {"CategoricalParameterRanges": [{"Name": "y", "Values": ["a", "b"]}],
              "IntegerParameterRanges": [{"Name": "x", "MinValue": "1", "MaxValue": "3",
                                          "ScalingType": "Linear"}]}
    src = source(s3, bucket)
    name = unique("grid")
    _create(sm, name, config("Grid", max_jobs=None, parallel=3, ranges=ranges),
            definition(bucket, src, {"epochs": "1"}))
    assert wait_tuning(sm, name)["TrainingJobStatusCounters"]["Completed"] == 6
    tuned = sorted((j["TunedHyperParameters"]["x"], j["TunedHyperParameters"]["y"])
                   for j in training_jobs(sm, name))
    assert tuned == sorted((str(x), y) for x in (1, 2, 3) for y in "ab")
    capped = unique("grid")
    _create(sm, capped, config("Grid", max_jobs=4, parallel=1, ranges=ranges),
            definition(bucket, src, {"epochs": "1"}))
    wait_tuning(sm, capped)
    order = [(j["TunedHyperParameters"]["x"], j["TunedHyperParameters"]["y"])
             for j in training_jobs(sm, capped)]
    assert order == [("1", "a"), ("1", "b"), ("2", "a"), ("2", "b")]  # x, then y


def test_early_stopping_auto_stops_a_clearly_bad_trial(cove: Any, sm: Any, s3: Any,
                                                        bucket: str) -> None:
    ranges = {"CategoricalParameterRanges": [{"Name": "x", "Values": ["3", "3.5", "40"]}]}
    name = unique("early")
    _create(sm, name, config("Grid", max_jobs=None, parallel=1, ranges=ranges,
                             TrainingJobEarlyStoppingType="Auto"),
            definition(bucket, source(s3, bucket), {"epochs": "12", "sleep": "0.5"}))
    d = wait_tuning(sm, name)
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["TrainingJobStatusCounters"]["Completed"] == 2
    assert d["TrainingJobStatusCounters"]["Stopped"] == 1
    jobs = {j["TunedHyperParameters"]["x"]: j for j in training_jobs(sm, name)}
    assert jobs["40"]["TrainingJobStatus"] == "Stopped"
    assert jobs["3"]["TrainingJobStatus"] == jobs["3.5"]["TrainingJobStatus"] == "Completed"
    # stopped before the end of its 12 epochs (counted in its log, not timed: a loaded machine
    # may take a while to act on the rule, but never lets the job finish)
    bad = [line for line in log_lines(cove.client("logs"), jobs["40"]["TrainingJobName"])
           if line.startswith("epoch ")]
    assert 1 <= len(bad) < 12, bad
    assert d["BestTrainingJob"]["TunedHyperParameters"] == {"x": "3"}


def test_hyperband_prunes_poor_trials(sm: Any, s3: Any, bucket: str) -> None:
    name = unique("hb")
    cfg = config("Hyperband", max_jobs=8, parallel=2, RandomSeed=3, ranges=_cont("0", "30"),
                 StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 1,
                                                             "MaxResource": 9}})
    _create(sm, name, cfg, definition(bucket, source(s3, bucket),
                                      {"epochs": "9", "sleep": "0.3"}))
    d = wait_tuning(sm, name)
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    counters = d["TrainingJobStatusCounters"]
    assert counters["Stopped"] >= 1 and counters["Completed"] + counters["Stopped"] == 8
    jobs = training_jobs(sm, name)
    # pruning stopped trials before their 9 epochs: the objective (x - 3)² + 10 / epoch is
    # above its 9-epoch value.  At least one, not each: a trial pruned at a late rung may end
    # its last epochs before a loaded machine acts on the stop, and is Stopped all the same
    stopped = [j for j in jobs if j["TrainingJobStatus"] == "Stopped"]
    assert any(_objective(j) > (float(j["TunedHyperParameters"]["x"]) - 3) ** 2 + 10 / 9
               for j in stopped), [_objective(j) for j in stopped]
    completed = [j for j in jobs if j["TrainingJobStatus"] == "Completed"]
    assert _objective(d["BestTrainingJob"]) == min(_objective(j) for j in completed)


def test_a_failing_trial_is_counted_and_the_search_goes_on(sm: Any, s3: Any,
                                                           bucket: str) -> None:
    ranges = {"CategoricalParameterRanges": [{"Name": "y", "Values": ["a", "b", "c"]}]}
    name = unique("fail")
    _create(sm, name, config("Grid", max_jobs=None, parallel=1, ranges=ranges),
            definition(bucket, source(s3, bucket), {"fail-on": "b", "epochs": "1"}))
    d = wait_tuning(sm, name)
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["TrainingJobStatusCounters"]["NonRetryableError"] == 1
    assert d["TrainingJobStatusCounters"]["Completed"] == 2
    assert d["ObjectiveStatusCounters"] == {"Succeeded": 2, "Pending": 0, "Failed": 1}
    failed = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, StatusEquals="Failed")["TrainingJobSummaries"]
    assert len(failed) == 1 and "asked to fail for y=b" in failed[0]["FailureReason"]
    assert failed[0]["ObjectiveStatus"] == "Failed"


def test_all_trials_failing_fails_the_tuning_job(sm: Any, s3: Any, bucket: str) -> None:
    ranges = {"CategoricalParameterRanges": [{"Name": "y", "Values": ["b"]}]}
    name = unique("allfail")
    _create(sm, name, config("Grid", max_jobs=None, parallel=1, ranges=ranges),
            definition(bucket, source(s3, bucket), {"fail-on": "b"}))
    d = wait_tuning(sm, name)
    assert d["HyperParameterTuningJobStatus"] == "Failed"
    assert "loss" in d["FailureReason"] and "BestTrainingJob" not in d


def test_target_objective_ends_the_job_early(sm: Any, s3: Any, bucket: str) -> None:
    name = unique("target")
    ranges = {"CategoricalParameterRanges": [{"Name": "x", "Values": ["3", "4", "5", "6"]}]}
    _create(sm, name, config("Grid", max_jobs=None, parallel=1, ranges=ranges,
                             TuningJobCompletionCriteria={"TargetObjectiveMetricValue": 5.0}),
            definition(bucket, source(s3, bucket), {"epochs": "2"}))
    d = wait_tuning(sm, name)
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["TrainingJobStatusCounters"]["Completed"] == 1  # x=3 gives 5.0: target reached


def test_stop_ends_running_trials(sm: Any, s3: Any, bucket: str) -> None:
    name = unique("stop")
    _create(sm, name, config("Random", max_jobs=4, parallel=2),
            definition(bucket, source(s3, bucket), {"epochs": "200", "sleep": "0.2"}))
    wait_for(lambda: sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
        "TrainingJobStatusCounters"]["InProgress"] == 2)
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
        "HyperParameterTuningJobStatus"] in ("Stopping", "Stopped")
    d = wait_tuning(sm, name, timeout=60)
    assert d["HyperParameterTuningJobStatus"] == "Stopped"
    assert d["TrainingJobStatusCounters"]["Stopped"] == 2
    assert all(j["TrainingJobStatus"] == "Stopped" for j in training_jobs(sm, name))
    with pytest.raises(ClientError) as err:
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_warm_start_seeds_the_search_from_a_parent(sm: Any, s3: Any, bucket: str) -> None:
    src = source(s3, bucket)
    parent = unique("parent")
    _create(sm, parent, config("Random", max_jobs=3, parallel=3, RandomSeed=5),
            definition(bucket, src, {"epochs": "1"}))
    parent_d = wait_tuning(sm, parent)
    child = unique("child")
    warm = {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent}],
            "WarmStartType": "IdenticalDataAndAlgorithm"}
    _create(sm, child, config("Bayesian", max_jobs=2, parallel=1, RandomSeed=5),
            definition(bucket, src, {"epochs": "1"}), WarmStartConfig=warm)
    d = wait_tuning(sm, child)
    assert d["WarmStartConfig"] == warm
    assert d["TrainingJobStatusCounters"]["Completed"] == 2  # the parent's trials are not rerun
    overall = d["OverallBestTrainingJob"]
    own_best = _objective(d["BestTrainingJob"])
    assert _objective(overall) == min(own_best, _objective(parent_d["BestTrainingJob"]))
    # TransferLearning: a wider range and another strategy; the parent's trials still count
    wider = unique("transfer")
    _create(sm, wider, config("Random", max_jobs=1, parallel=1, ranges={
        **_cont("-2", "8"), "CategoricalParameterRanges": [{"Name": "y", "Values": ["a", "b"]}]}),
        definition(bucket, src, {"epochs": "1"}), WarmStartConfig={
            **warm, "WarmStartType": "TransferLearning"})
    transfer = wait_tuning(sm, wider)
    assert transfer["TrainingJobStatusCounters"]["Completed"] == 1
    assert _objective(transfer["OverallBestTrainingJob"]) <= _objective(
        parent_d["BestTrainingJob"])
    # a parent still running cannot seed a search
    running = unique("running")
    _create(sm, running, config("Random", max_jobs=2, parallel=1),
            definition(bucket, src, {"epochs": "100", "sleep": "0.2"}))
    with pytest.raises(ClientError) as err:
        _create(sm, unique("child"), config("Random", max_jobs=2, parallel=1),
                definition(bucket, src), WarmStartConfig={
                    "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": running}],
                    "WarmStartType": "TransferLearning"})
    assert "must have finished" in err.value.response["Error"]["Message"]
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=running)


def test_restart_mid_tuning_resumes_the_search(fresh_cove: Any) -> None:
    sm, s3 = fresh_cove.client("sagemaker"), fresh_cove.client("s3")
    s3.create_bucket(Bucket="tuning-restart")
    ranges = {"CategoricalParameterRanges": [{"Name": "x", "Values": ["1", "2", "3", "4"]}]}
    _create(sm, "resume", config("Grid", max_jobs=None, parallel=1, ranges=ranges),
            definition("tuning-restart", source(s3, "tuning-restart"),
                       {"epochs": "8", "sleep": "0.25"}))
    wait_for(lambda: sm.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="resume")["TrainingJobStatusCounters"]["Completed"] >= 1,
        timeout=60)
    fresh_cove.kill()
    fresh_cove.restart()
    sm = fresh_cove.client("sagemaker")
    d = wait_tuning(sm, "resume")
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    counters = d["TrainingJobStatusCounters"]
    assert counters["Completed"] == 4  # every grid point ran to the end, once
    assert counters["RetryableError"] <= 1  # the trial cut off by the restart, rerun
    done = sorted(j["TunedHyperParameters"]["x"] for j in training_jobs(sm, "resume")
                  if j["TrainingJobStatus"] == "Completed")
    assert done == ["1", "2", "3", "4"]
    assert d["BestTrainingJob"]["TunedHyperParameters"] == {"x": "3"}


# --- validation ---------------------------------------------------------------------------------

def _invalid(sm: Any, cfg: dict[str, Any], definition: dict[str, Any],
             name: str = "bad-tuning", **extra: Any) -> str:
    with pytest.raises(ClientError) as err:
        _create(sm, name, cfg, definition, **extra)
    assert err.value.response["Error"]["Code"] == "ValidationException", err.value.response
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(err.value.response["Error"]["Message"])


def _cont(low: str, high: str, scaling: str = "Linear") -> dict[str, Any]:
    return {"ContinuousParameterRanges": [{"Name": "x", "MinValue": low, "MaxValue": high,
                                           "ScalingType": scaling}]}


@pytest.mark.parametrize(("change", "expected"), [
    (lambda c, d: c["ParameterRanges"].update(_cont("5", "1")), "must be less than"),
    (lambda c, d: c["ParameterRanges"].update(_cont("0", "1", "Logarithmic")), "positive"),
    (lambda c, d: c["ParameterRanges"].update(_cont("0", "2", "ReverseLogarithmic")),
     "MaxValue < 1"),
    (lambda c, d: c["ParameterRanges"].update(_cont("a", "2")), "must be numbers"),
    (lambda c, d: c["ParameterRanges"].update({"CategoricalParameterRanges": [
        {"Name": "y", "Values": ["a", "a"]}]}), "twice"),
    (lambda c, d: c["ParameterRanges"].update({"IntegerParameterRanges": [
        {"Name": "x", "MinValue": "1", "MaxValue": "3"}]}), "one range only"),
    (lambda c, d: c["ResourceLimits"].update(MaxParallelTrainingJobs=5), "cannot exceed"),
    (lambda c, d: c["ResourceLimits"].pop("MaxNumberOfTrainingJobs"), "required"),
    (lambda c, d: c["HyperParameterTuningJobObjective"].update(MetricName="accuracy"),
     "not one the training jobs emit"),
    (lambda c, d: d["StaticHyperParameters"].update(x="1"), "both tuned"),
    (lambda c, d: c.update(Strategy="Grid"), "Grid strategy enumerates"),
    (lambda c, d: c.update(Strategy="Hyperband"), "MaxResource"),
    (lambda c, d: d["AlgorithmSpecification"].update(TrainingImage="busybox:latest"),
     "cannot run the image"),
    (lambda c, d: d["OutputDataConfig"].update(S3OutputPath="s3://no-such-bucket-x/out"),
     "does not exist"),
])
def test_bad_requests_are_rejected_with_reasons(sm: Any, s3: Any, bucket: str, change: Any,
                                                expected: str) -> None:
    cfg, d = config("Random", max_jobs=4, parallel=2), definition(bucket, "s3://x/y.tar.gz")
    d["StaticHyperParameters"].pop("sagemaker_submit_directory")
    change(cfg, d)
    assert expected in _invalid(sm, cfg, d)


def test_names_and_lookups(sm: Any, s3: Any, bucket: str) -> None:
    d = definition(bucket, source(s3, bucket))
    assert "32" in _invalid(sm, config(), d, name="x" * 33)
    with pytest.raises(ClientError) as err:
        sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="no-such-tuning")
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    name = unique("dup")
    _create(sm, name, config(max_jobs=1, parallel=1), definition(bucket, source(s3, bucket),
                                                                 {"epochs": "1"}))
    with pytest.raises(ClientError) as err:
        _create(sm, name, config(max_jobs=1, parallel=1), d)
    assert err.value.response["Error"]["Code"] == "ResourceInUse"
    wait_tuning(sm, name)
    with pytest.raises(ClientError) as err:
        sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="no-such-tuning")
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"


def test_cli_lists_and_describes_tuning_jobs(cove: Any, sm: Any, s3: Any, bucket: str) -> None:
    import os
    import subprocess
    import sys

    ranges = {"CategoricalParameterRanges": [{"Name": "x", "Values": ["2", "3", "9"]}]}
    name = unique("cli")
    _create(sm, name, config("Grid", max_jobs=None, parallel=3, ranges=ranges),
            definition(bucket, source(s3, bucket), {"epochs": "2"}))
    env = {**os.environ, "COVE_HOME": str(cove.home), "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cove", "tuning", *args], env=env,
                              text=True, capture_output=True, timeout=120)

    watched = run("describe", name, "--watch")  # returns once the job has ended
    assert watched.returncode == 0, watched.stderr
    described = run("describe", name).stdout
    assert "Completed" in described and "Minimize loss" in described
    rows = [line for line in described.splitlines() if f"{name}-" in line and "│" in line]
    assert [row.split("│")[4].strip() for row in rows] == ["3", "2", "9"]  # best first
    listing = run("ls").stdout
    assert name in listing and "Grid" in listing and "3 / grid" in listing
    missing = run("describe", "no-such-tuning")
    assert missing.returncode == 1 and "can't find a tuning job" in missing.stderr
    assert "Traceback" not in missing.stderr

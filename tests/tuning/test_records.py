"""Tuning job records: the job's and its trials' lifecycles allow exactly their moves, and a
tuning job stored before records reads back as a record that renders the same Describe
document (databases written by earlier versions read unchanged); a job that ends says so."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import insert

from cove import errors
from cove.meta import Database
from cove.meta.tables import tuning_jobs
from cove.sagemaker import JobStatus, RecordRows
from cove.tuning import TrialState, TuningJob, TuningJobs, describe_tuning_job
from cove.tuning._rows import dump, load

J, T = JobStatus, TrialState
JOB_MOVES = {(J.IN_PROGRESS, J.STOPPING), (J.IN_PROGRESS, J.COMPLETED),
             (J.IN_PROGRESS, J.FAILED), (J.IN_PROGRESS, J.STOPPED), (J.STOPPING, J.STOPPED),
             (J.STOPPING, J.FAILED), (J.STOPPING, J.COMPLETED)}
TRIAL_MOVES = {(T.RUNNING, T.COMPLETE), (T.RUNNING, T.PRUNED), (T.RUNNING, T.FAILED),
               (T.RUNNING, T.RETRIED)}
CONFIG = {"Strategy": "Random", "TrainingJobEarlyStoppingType": "Off",
          "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
          "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
          "ParameterRanges": {"ContinuousParameterRanges": [
              {"Name": "lr", "MinValue": "0.01", "MaxValue": "0.1",
               "ScalingType": "Auto"}]}}
SUMMARY = {"TrainingJobName": "t-001-ab", "TrainingJobArn": "arn:tj", "TuningJobName": "t",
           "CreationTime": 1010.0, "TrainingJobStatus": "Completed",
           "TunedHyperParameters": {"lr": "0.05"}, "ObjectiveStatus": "Succeeded",
           "FinalHyperParameterTuningJobObjectiveMetric": {
               "Type": "Minimize", "MetricName": "loss", "Value": 0.25}}
#: A finished tuning job as cove stored it before records (DescribedRows of that version).
STORED: dict[str, Any] = {
    "HyperParameterTuningJobName": "t",
    "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:1:hyper-parameter-tuning-job/t",
    "HyperParameterTuningJobConfig": CONFIG,
    "TrainingJobDefinition": {
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "loss", "Regex": "l=(.*)"}]},
        "StaticHyperParameters": {"_tuning_objective_metric": "loss"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 30}},
    "HyperParameterTuningJobStatus": "Failed", "CreationTime": 1000.0,
    "LastModifiedTime": 1100.0,
    "TrainingJobStatusCounters": {"Completed": 1, "InProgress": 0, "RetryableError": 1,
                                  "NonRetryableError": 2, "Stopped": 0},
    "ObjectiveStatusCounters": {"Succeeded": 1, "Pending": 0, "Failed": 2},
    "WarmStartConfig": {"ParentHyperParameterTuningJobs": [
        {"HyperParameterTuningJobName": "p"}], "WarmStartType": "TransferLearning"},
    "BestTrainingJob": SUMMARY, "OverallBestTrainingJob": SUMMARY,
    "HyperParameterTuningEndTime": 1090.0, "ConsumedResources": {"RuntimeInSeconds": 90},
    "FailureReason": "InternalServerError: KeyError: 'x'"}


@pytest.mark.parametrize("before", list(J))
@pytest.mark.parametrize("after", list(J))
def test_tuning_job_moves_only_along_the_job_lifecycle(before: J, after: J) -> None:
    job = _job(before)
    if (before, after) in JOB_MOVES:
        assert job.moved(after).status is after
    else:
        with pytest.raises(errors.ValidationError, match="hyperparameter tuning job"):
            job.moved(after)


@pytest.mark.parametrize("before", list(T))
@pytest.mark.parametrize("after", list(T))
def test_trial_moves_only_along_its_lifecycle(before: T, after: T) -> None:
    assert before.can_become(after) is ((before, after) in TRIAL_MOVES)
    if (before, after) in TRIAL_MOVES:
        assert before.check(after, "tj") is after
    else:
        with pytest.raises(errors.ServerError, match=f"tj is {before.value}"):
            before.check(after, "tj")


def test_trial_predicates() -> None:
    assert [s for s in T if not s.is_finished()] == [T.RUNNING]
    assert [s for s in T if not s.counts()] == [T.RETRIED]


def test_stop_and_end() -> None:
    with pytest.raises(errors.ValidationError, match="only an InProgress job can be stopped"):
        _job(J.STOPPING).stopping()
    assert _job(J.IN_PROGRESS).stopping().status is J.STOPPING
    failed = _job(J.IN_PROGRESS).ended_as(J.FAILED, "", now=1030.0)
    assert (failed.ended, failed.runtime_seconds) == (1030.0, 30)
    assert "No training job reported the objective metric 'loss'" in failed.failure_reason
    stopped = _job(J.STOPPING).ended_as(J.STOPPED, "", now=1040.0)
    assert stopped.failure_reason == "" and stopped.runtime_seconds == 40


def test_a_row_stored_before_records_reads_back_unchanged(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'meta.db'}", migrate=True)
    with db.write() as conn:
        conn.execute(insert(tuning_jobs).values(
            name="t", arn=STORED["HyperParameterTuningJobArn"], status="Failed",
            creation_time=1000.0, last_modified=1100.0, describe=STORED))
    rows = RecordRows(db, tuning_jobs, "tuning job", load, dump)
    job = rows.get("t")
    assert (job.status, job.parents, job.metric, job.runtime_seconds) == (
        J.FAILED, ["p"], "loss", 90)
    assert describe_tuning_job(job) == STORED
    assert rows.with_status("Failed") == [job]


def _job(status: JobStatus) -> TuningJob:
    doc = copy.deepcopy(STORED)
    for key in ("HyperParameterTuningEndTime", "ConsumedResources", "FailureReason"):
        doc.pop(key)
    doc["HyperParameterTuningJobStatus"] = status.value
    return load(doc)


def test_a_tuning_job_that_ends_is_announced(tmp_path: Path) -> None:
    """The pipeline engine listens to ``on_finished`` so a Tuning step moves on when its job
    ends, not at its next fallback poll."""
    db = Database(f"sqlite:///{tmp_path / 'meta.db'}", migrate=True)
    training = SimpleNamespace(on_finished=[])  # a tuning job without trials reads nothing else
    tuning = TuningJobs(db, training)  # type: ignore[arg-type]
    ended: list[str] = []
    tuning.on_finished.append(ended.append)
    tuning.rows.insert(_job(J.STOPPING))
    tuning.advance("t")
    assert (tuning.get("t").status, ended) == (J.STOPPED, ["t"])
    assert len(training.on_finished) == 1  # the tuning job listens to its trials ending

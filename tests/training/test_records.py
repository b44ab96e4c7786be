"""The training and processing records: their lifecycle refuses moves it does not allow, and
the stored layout reads back as the same record (databases written before records exist
read unchanged)."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from cove import errors
from cove.processing import ProcessingJob
from cove.processing._records import dump as dump_processing
from cove.processing._records import load as load_processing
from cove.sagemaker import JobStatus
from cove.training import SecondaryStatus, TrainingJob, Transition, describe_training_job
from cove.training._rows import dump, load

CONFIG = {"AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
          "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2},
          "OutputDataConfig": {"S3OutputPath": "s3://b/out/"},
          "StoppingCondition": {"MaxRuntimeInSeconds": 60}, "HyperParameters": {"a": "1"}}


def _job() -> TrainingJob:
    return TrainingJob("j", "arn:j", JobStatus.IN_PROGRESS,
                       (Transition(SecondaryStatus.STARTING, 10.0, "Launching"),), 10.0, 10.0,
                       MappingProxyType(CONFIG))


def test_job_status_transitions_follow_the_lifecycle() -> None:
    assert JobStatus.IN_PROGRESS.can_become(JobStatus.STOPPING)
    assert JobStatus.STOPPING.can_become(JobStatus.STOPPED)
    for end in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED):
        assert end.is_finished()
        assert not any(end.can_become(other) for other in JobStatus)
    assert not JobStatus.STOPPING.can_become(JobStatus.IN_PROGRESS)


def test_a_finished_training_job_refuses_to_move() -> None:
    done = _job().finished(JobStatus.COMPLETED, SecondaryStatus.COMPLETED, "done", 20.0)
    with pytest.raises(errors.ValidationError, match="is in status Completed"):
        done.moved(JobStatus.STOPPING, SecondaryStatus.STOPPING, "stop", 21.0)
    with pytest.raises(errors.ValidationError):
        done.finished(JobStatus.FAILED, SecondaryStatus.FAILED, "late", 22.0, failure="x")
    # A phase reported after the end changes nothing.
    assert done.phase(SecondaryStatus.TRAINING, "late", 23.0).transitions == done.transitions


def test_a_training_job_records_its_secondary_transitions() -> None:
    job = _job().phase(SecondaryStatus.DOWNLOADING, "data", 11.0)
    job = job.phase(SecondaryStatus.TRAINING, "train", 12.0)
    job = job.finished(JobStatus.COMPLETED, SecondaryStatus.COMPLETED, "done", 14.0)
    assert [t.status for t in job.transitions] == [
        SecondaryStatus.STARTING, SecondaryStatus.DOWNLOADING, SecondaryStatus.TRAINING,
        SecondaryStatus.COMPLETED]
    assert [t.end for t in job.transitions] == [11.0, 12.0, 14.0, 14.0]
    assert job.started == 11.0 and job.ended == 14.0
    d = describe_training_job(job)
    assert d["TrainingTimeInSeconds"] == 3 and d["BillableTimeInSeconds"] == 6
    assert d["SecondaryStatus"] == "Completed" and d["FinalMetricDataList"] == []


def test_the_stored_training_layout_round_trips() -> None:
    job = _job().phase(SecondaryStatus.DOWNLOADING, "data", 11.0).finished(
        JobStatus.FAILED, SecondaryStatus.FAILED, "failed", 13.0, failure="AlgorithmError: x")
    assert load(dump(job)) == job
    # What an earlier cove stored (the Describe document itself) reads as a record.
    legacy = describe_training_job(job)
    assert load(legacy) == job


def test_a_processing_job_refuses_to_move_once_finished() -> None:
    job = ProcessingJob("p", "arn:p", JobStatus.IN_PROGRESS, 1.0, 1.0, MappingProxyType({}))
    assert job.waiting and not job.began(2.0).waiting
    stopped = job.moved(JobStatus.STOPPING).finished(JobStatus.STOPPED, 3.0)
    assert stopped.started == 3.0 and load_processing(dump_processing(stopped)) == stopped
    with pytest.raises(errors.ValidationError, match="processing job is in status Stopped"):
        stopped.moved(JobStatus.STOPPING)

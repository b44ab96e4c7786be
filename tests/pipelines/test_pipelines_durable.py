"""A kill -9 of cove in the middle of an execution: after the restart the execution goes on,
the step whose job the crash ended runs again, and finished steps are not re-run."""

from __future__ import annotations

from typing import Any

from tests.pipelines.helpers import create, source, start, steps, training_step, wait
from tests.pipelines.test_pipelines_principal import live_keys
from tests.training.helpers import wait_for


def test_kill_mid_execution_resumes(fresh_cove: Any) -> None:
    sm, s3 = fresh_cove.client("sagemaker"), fresh_cove.client("s3")
    s3.create_bucket(Bucket="durable")
    code = source(s3, "durable")
    slow = training_step("Slow", "durable", code, pause=6,
                         DependsOn=["Quick"])
    create(sm, "durable", [training_step("Quick", "durable", code), slow])
    execution = start(sm, "durable")
    wait_for(lambda: steps(sm, execution).get("Slow", {}).get("StepStatus") == "Executing",
             timeout=120)
    quick_job = steps(sm, execution)["Quick"]["Metadata"]["TrainingJob"]["Arn"]
    owner = f"pipeline-execution/{execution.rsplit('/', 1)[-1]}"
    assert live_keys(fresh_cove, owner) == 1  # the key its steps act with

    fresh_cove.kill()
    fresh_cove.start()
    sm = fresh_cove.client("sagemaker")
    assert live_keys(fresh_cove, owner) == 1  # the same one, after the crash
    assert wait(sm, execution)["PipelineExecutionStatus"] == "Succeeded"
    wait_for(lambda: live_keys(fresh_cove, owner) == 0)  # revoked just after the end
    ran = steps(sm, execution)
    assert (ran["Quick"]["AttemptCount"], ran["Slow"]["AttemptCount"]) == (1, 2)
    assert ran["Quick"]["Metadata"]["TrainingJob"]["Arn"] == quick_job
    jobs = sm.list_training_jobs(NameContains=execution.rsplit("/", 1)[-1])["TrainingJobSummaries"]
    statuses = sorted(j["TrainingJobStatus"] for j in jobs)
    assert statuses == ["Completed", "Completed", "Failed"]  # the crash ended one attempt

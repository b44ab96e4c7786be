"""The SageMaker Python SDK v2's ``sagemaker.workflow``, unchanged: parameters, a TrainingStep,
a ConditionStep on the trained job's metric, a ModelStep registering the model, a FailStep,
``upsert``, ``start``, ``wait``, ``list_steps``."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from botocore.exceptions import WaiterError

from tests.pipelines.helpers import wait
from tests.training.helpers import ROLE, SKLEARN_IMAGE, unique
from tests.training.test_sdk import session  # noqa: F401 - the SDK session fixture

TRAIN = """
import os
print("validation-rmse=0.31", flush=True)
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("x")
"""


def test_sdk_pipeline_register_or_fail(session: Any, bucket: str,  # noqa: F811
                                       tmp_path: Any) -> None:
    from sagemaker.estimator import Estimator
    from sagemaker.model import Model
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionLessThanOrEqualTo
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.functions import Join
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.parameters import ParameterFloat
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.pipeline_context import PipelineSession
    from sagemaker.workflow.steps import TrainingStep

    (tmp_path / "train.py").write_text(TRAIN)
    pipeline_session = PipelineSession(boto_session=session.boto_session,
                                       default_bucket=bucket)
    threshold = ParameterFloat(name="MaxRmse", default_value=0.5)
    estimator = Estimator(image_uri=SKLEARN_IMAGE, role=ROLE, instance_count=1,
                          instance_type="ml.m5.large", entry_point="train.py",
                          source_dir=str(tmp_path), sagemaker_session=pipeline_session,
                          metric_definitions=[{"Name": "validation:rmse",
                                               "Regex": "validation-rmse=([0-9.]+)"}])
    train = TrainingStep(name="Train", step_args=estimator.fit())
    model = Model(image_uri=SKLEARN_IMAGE, role=ROLE, sagemaker_session=pipeline_session,
                  model_data=train.properties.ModelArtifacts.S3ModelArtifacts)
    group = unique("sdkpipe")
    register = ModelStep(name="Register", step_args=model.register(
        content_types=["text/csv"], response_types=["text/csv"],
        inference_instances=["ml.m5.large"], transform_instances=["ml.m5.large"],
        model_package_group_name=group, approval_status="Approved"))
    fail = FailStep(name="TooWeak", error_message=Join(on=" ", values=[
        "validation rmse above", threshold]))
    check = ConditionStep(name="Check", conditions=[ConditionLessThanOrEqualTo(
        left=train.properties.FinalMetricDataList["validation:rmse"].Value, right=threshold)],
        if_steps=[register], else_steps=[fail])
    pipeline = Pipeline(name=unique("sdk"), parameters=[threshold], steps=[train, check],
                        sagemaker_session=pipeline_session)
    pipeline.upsert(role_arn=ROLE)
    pipeline.upsert(role_arn=ROLE, description="again")  # an update, as the SDK does it

    execution = pipeline.start()
    with contextlib.suppress(WaiterError):
        execution.wait(delay=1, max_attempts=240)
    status = execution.describe()["PipelineExecutionStatus"]
    assert status == "Succeeded", execution.list_steps()[0].get("FailureReason")
    ran = {s["StepName"]: s for s in execution.list_steps()}
    assert ran["Check"]["Metadata"]["Condition"]["Outcome"] == "true"
    package_arn = ran["Register-RegisterModel"]["Metadata"]["RegisterModel"]["Arn"]
    assert package_arn.endswith(f"/{group}/1")

    failing = pipeline.start(parameters={"MaxRmse": 0.1})
    with contextlib.suppress(WaiterError):  # the SDK's waiter raises on Failed, as on AWS
        failing.wait(delay=1, max_attempts=240)
    described = failing.describe()
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "validation rmse above 0.1"


SLEEPY = """
import os, time
time.sleep(float(os.environ.get("PAUSE", "0")))
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("x")
"""


def test_sdk_cache_hit_and_stop(session: Any, bucket: str, tmp_path: Any) -> None:  # noqa: F811
    """``CacheConfig`` and ``RetryPolicy`` objects as the SDK writes them; the second run with
    the same arguments is a cache hit; ``execution.stop()`` stops the running job."""
    from sagemaker.estimator import Estimator
    from sagemaker.workflow.parameters import ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.pipeline_context import PipelineSession
    from sagemaker.workflow.retry import (
        SageMakerJobExceptionTypeEnum,
        SageMakerJobStepRetryPolicy,
    )
    from sagemaker.workflow.steps import CacheConfig, TrainingStep

    (tmp_path / "train.py").write_text(SLEEPY)
    pipeline_session = PipelineSession(boto_session=session.boto_session,
                                       default_bucket=bucket)
    pause = ParameterString(name="Pause", default_value="0")
    estimator = Estimator(image_uri=SKLEARN_IMAGE, role=ROLE, instance_count=1,
                          instance_type="ml.m5.large", entry_point="train.py",
                          source_dir=str(tmp_path), sagemaker_session=pipeline_session,
                          environment={"PAUSE": pause})
    train = TrainingStep(name="Train", step_args=estimator.fit(),
                         cache_config=CacheConfig(enable_caching=True, expire_after="PT1H"),
                         retry_policies=[SageMakerJobStepRetryPolicy(
                             exception_types=[SageMakerJobExceptionTypeEnum.INTERNAL_ERROR],
                             max_attempts=2)])
    pipeline = Pipeline(name=unique("sdkcache"), parameters=[pause], steps=[train],
                        sagemaker_session=pipeline_session)
    pipeline.upsert(role_arn=ROLE)

    first, second = pipeline.start(), None
    with contextlib.suppress(WaiterError):
        first.wait(delay=1, max_attempts=240)
    second = pipeline.start()
    with contextlib.suppress(WaiterError):
        second.wait(delay=1, max_attempts=240)
    assert [e.describe()["PipelineExecutionStatus"] for e in (first, second)] == \
        ["Succeeded", "Succeeded"]
    a, b = (e.list_steps()[0] for e in (first, second))
    assert b["CacheHitResult"]["SourcePipelineExecutionArn"] == first.arn
    assert b["Metadata"]["TrainingJob"] == a["Metadata"]["TrainingJob"]

    slow = pipeline.start(parameters={"Pause": "300"})  # other arguments: no cache hit
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
            slow.list_steps() and slow.list_steps()[0]["StepStatus"] == "Executing"):
        time.sleep(0.2)
    slow.stop()  # (the SDK's waiter knows no Stopped state: wait on Describe)
    assert wait(session.sagemaker_client, slow.arn)["PipelineExecutionStatus"] == "Stopped"
    step = slow.list_steps()[0]
    assert step["StepStatus"] == "Stopped" and "CacheHitResult" not in step
    job = step["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[-1]
    assert session.sagemaker_client.describe_training_job(TrainingJobName=job)[
        "TrainingJobStatus"] == "Stopped"

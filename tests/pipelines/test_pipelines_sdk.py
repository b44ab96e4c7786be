"""The SageMaker Python SDK v2's ``sagemaker.workflow``, unchanged: parameters, a TrainingStep,
a ConditionStep on the trained job's metric, a ModelStep registering the model, a FailStep,
``upsert``, ``start``, ``wait``, ``list_steps``."""

from __future__ import annotations

import contextlib
from typing import Any

from botocore.exceptions import WaiterError

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

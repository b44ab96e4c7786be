"""SDK v3's ``sagemaker.mlops.workflow``, unchanged: a processing step that writes an
evaluation report declared as a PropertyFile, a ConditionStep on ``JsonGet`` of it against a
parameter, a FailStep; ``upsert`` (role checked through IAM), ``start``, ``wait``,
``list_steps``."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from tests.processing.helpers import ROLE, SKLEARN_IMAGE, unique

EVALUATE = """
import json, os
os.makedirs("/opt/ml/processing/evaluation", exist_ok=True)
json.dump({"metrics": {"accuracy": {"value": 0.91}}},
          open("/opt/ml/processing/evaluation/evaluation.json", "w"))
"""


def test_v3_pipeline_condition_on_a_property_file(cove: Any, bucket: str, tmp_path: Path,
                                                  monkeypatch: Any) -> None:
    for name, value in cove.env().items():
        monkeypatch.setenv(name, value)
    import boto3
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import ProcessingOutput, ProcessingS3Output
    from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import ParameterFloat
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import ProcessingStep

    (tmp_path / "evaluate.py").write_text(EVALUATE)
    session = PipelineSession(boto_session=boto3.Session(), default_bucket=bucket)
    threshold = ParameterFloat(name="MinAccuracy", default_value=0.9)
    processor = ScriptProcessor(image_uri=SKLEARN_IMAGE, command=["python3"], role=ROLE,
                                instance_type="ml.m5.large", instance_count=1,
                                sagemaker_session=session)
    report = PropertyFile(name="Evaluation", output_name="evaluation", path="evaluation.json")
    evaluate = ProcessingStep(name="Evaluate", property_files=[report], step_args=processor.run(
        code=str(tmp_path / "evaluate.py"), outputs=[ProcessingOutput(
            output_name="evaluation", s3_output=ProcessingS3Output(
                s3_uri=f"s3://{bucket}/{unique('eval')}", s3_upload_mode="EndOfJob",
                local_path="/opt/ml/processing/evaluation"))]))
    too_weak = FailStep(name="TooWeak", error_message=Join(on=" ", values=[
        "accuracy below", threshold]))
    check = ConditionStep(name="Check", conditions=[ConditionGreaterThanOrEqualTo(
        left=JsonGet(step_name=evaluate.name, property_file=report,
                     json_path="metrics.accuracy.value"), right=threshold)],
        if_steps=[], else_steps=[too_weak])
    pipeline = Pipeline(name=unique("v3pipe"), parameters=[threshold],
                        steps=[evaluate, check], sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)
    pipeline.upsert(role_arn=ROLE, description="an update makes a new version")

    execution = pipeline.start()
    with contextlib.suppress(Exception):  # the waiter raises on Failed, as against AWS
        execution.wait(delay=1, max_attempts=300)
    ran = {s["StepName"]: s for s in execution.list_steps()}
    assert execution.describe()["PipelineExecutionStatus"] == "Succeeded", {
        k: v.get("FailureReason") for k, v in ran.items()}
    assert ran["Check"]["Metadata"]["Condition"]["Outcome"] == "true"
    assert set(ran) == {"Evaluate", "Check"}

    failing = pipeline.start(parameters={"MinAccuracy": 0.95})
    with contextlib.suppress(Exception):
        failing.wait(delay=1, max_attempts=300)
    described = failing.describe()
    assert (described["PipelineExecutionStatus"], described["FailureReason"]) == \
        ("Failed", "accuracy below 0.95")

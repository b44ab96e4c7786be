"""SDK v3's ``sagemaker.mlops.workflow`` beyond the basic flow: a processing step with a
``CacheConfig`` and a ``RetryPolicy`` whose second run is a cache hit, a ``LambdaStep`` whose
output the execution records, and ``execution.stop()`` of a running processing job."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

from tests.pipelines.helpers import wait
from tests.processing.helpers import ROLE, SKLEARN_IMAGE, unique

ANSWER = "def handler(event, context):\n    return {'answer': str(event['n'] * 2)}\n"


def _function(cove: Any) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambda_function.py", ANSWER)
    return str(cove.client("lambda").create_function(
        FunctionName=unique("v3fn"), Runtime="python3.11", Role=ROLE,
        Handler="lambda_function.handler", Code={"ZipFile": buffer.getvalue()})["FunctionArn"])


def test_v3_cache_hit_lambda_and_stop(cove: Any, bucket: str, tmp_path: Path,
                                      monkeypatch: Any) -> None:
    for name, value in cove.env().items():
        monkeypatch.setenv(name, value)
    import boto3
    from sagemaker.core.lambda_helper import Lambda
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.mlops.workflow.lambda_step import LambdaOutput, LambdaOutputTypeEnum, LambdaStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.retry import (
        SageMakerJobExceptionTypeEnum,
        SageMakerJobStepRetryPolicy,
    )
    from sagemaker.mlops.workflow.steps import CacheConfig, ProcessingStep

    session = PipelineSession(boto_session=boto3.Session(), default_bucket=bucket)
    (tmp_path / "quick.py").write_text("print('done')\n")
    (tmp_path / "slow.py").write_text("import time\ntime.sleep(300)\n")

    def processing(name: str, code: str, **extra: Any) -> ProcessingStep:
        processor = ScriptProcessor(image_uri=SKLEARN_IMAGE, command=["python3"], role=ROLE,
                                    instance_type="ml.m5.large", instance_count=1,
                                    sagemaker_session=session)
        return ProcessingStep(name=name, step_args=processor.run(code=str(tmp_path / code)),
                              **extra)

    quick = processing("Quick", "quick.py", cache_config=CacheConfig(
        enable_caching=True, expire_after="PT1H"), retry_policies=[
        SageMakerJobStepRetryPolicy(exception_types=[
            SageMakerJobExceptionTypeEnum.INTERNAL_ERROR], max_attempts=2)])
    ask = LambdaStep(name="Ask", lambda_func=Lambda(function_arn=_function(cove),
                                                    session=session),
                     inputs={"n": 21}, outputs=[LambdaOutput(
                         output_name="answer", output_type=LambdaOutputTypeEnum.String)],
                     depends_on=[quick])
    pipeline = Pipeline(name=unique("v3cache"), steps=[quick, ask], sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)
    sm = cove.client("sagemaker")
    runs = []
    for _ in range(2):  # one after the other: the second may reuse the first's result
        runs.append(pipeline.start())
        wait(sm, runs[-1].arn)
    first, second = ({s["StepName"]: s for s in r.list_steps()} for r in runs)
    assert [r.describe()["PipelineExecutionStatus"] for r in runs] == \
        ["Succeeded", "Succeeded"], {k: v.get("FailureReason") for k, v in second.items()}
    assert second["Quick"]["CacheHitResult"]["SourcePipelineExecutionArn"] == runs[0].arn
    assert second["Quick"]["Metadata"] == first["Quick"]["Metadata"]
    assert "CacheHitResult" not in second["Ask"]  # a Lambda step is not cached here
    assert second["Ask"]["Metadata"]["Lambda"]["OutputParameters"] == \
        [{"Name": "answer", "Value": "42"}]

    slow = Pipeline(name=unique("v3stop"), steps=[processing("Slow", "slow.py")],
                    sagemaker_session=session)
    slow.upsert(role_arn=ROLE)
    execution = slow.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
            execution.list_steps() and execution.list_steps()[0]["StepStatus"] == "Executing"):
        time.sleep(0.2)
    execution.stop()
    assert wait(sm, execution.arn)["PipelineExecutionStatus"] == "Stopped"
    job = execution.list_steps()[0]["Metadata"]["ProcessingJob"]["Arn"].rsplit("/", 1)[-1]
    assert sm.describe_processing_job(ProcessingJobName=job)["ProcessingJobStatus"] == "Stopped"

"""The classic SageMaker pipeline through SDK v3's ``sagemaker.mlops.workflow``, unchanged:
preprocess (a processing step making a 200-row regression set) → train (a TrainingStep whose
step_args come from ``ModelTrainer.train`` on the built-in XGBoost, under a PipelineSession) →
evaluate (a processing step writing evaluation.json, declared as a PropertyFile) → a
ConditionStep on ``JsonGet`` of the RMSE → register (``ModelBuilder.register``) + create the
model (``ModelBuilder.build``) + batch transform, or a FailStep."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.processing.helpers import ROLE, SKLEARN_IMAGE, unique

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"

PREPROCESS = """
import numpy as np, os
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 3))
y = 3 * X[:, 0] - 2 * X[:, 1] + 0.1 * rng.normal(size=200)
base = "/opt/ml/processing"
for name, rows in (("train", slice(0, 150)), ("test", slice(150, 200))):
    os.makedirs(f"{base}/{name}", exist_ok=True)
    np.savetxt(f"{base}/{name}/{name}.csv", np.column_stack([y[rows], X[rows]]),
               delimiter=",", fmt="%.6f")
np.savetxt(f"{base}/test/features.csv", X[150:], delimiter=",", fmt="%.6f")
"""

EVALUATE = """
import json, os, tarfile
import numpy as np, xgboost
with tarfile.open("/opt/ml/processing/model/model.tar.gz") as tar:
    tar.extractall("/tmp/model")
booster = xgboost.Booster()
booster.load_model("/tmp/model/xgboost-model")
data = np.loadtxt("/opt/ml/processing/test/test.csv", delimiter=",")
predicted = booster.predict(xgboost.DMatrix(data[:, 1:]))
rmse = float(np.sqrt(np.mean((predicted - data[:, 0]) ** 2)))
os.makedirs("/opt/ml/processing/evaluation", exist_ok=True)
r2 = 1 - rmse ** 2 / float(np.var(data[:, 0]))
json.dump({"regression_metrics": {"rmse": {"value": rmse}, "r2": {"value": r2}}},
          open("/opt/ml/processing/evaluation/evaluation.json", "w"))
print("rmse", rmse)
"""


def _pipeline(bucket: str, tmp_path: Path) -> tuple[Any, str]:
    import boto3
    from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import (
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
    )
    from sagemaker.core.training.configs import Compute, InputData
    from sagemaker.core.transformer import Transformer
    from sagemaker.core.workflow.conditions import (
        ConditionGreaterThanOrEqualTo,
        ConditionLessThanOrEqualTo,
    )
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import ParameterFloat
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.model_step import ModelStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep, TransformStep
    from sagemaker.serve.model_builder import ModelBuilder
    from sagemaker.train import ModelTrainer

    for name, text in (("preprocess.py", PREPROCESS), ("evaluate.py", EVALUATE)):
        (tmp_path / name).write_text(text)
    ps = PipelineSession(boto_session=boto3.Session(), default_bucket=bucket)
    max_rmse = ParameterFloat(name="MaxRmse", default_value=2.0)
    min_r2 = ParameterFloat(name="MinR2", default_value=0.5)
    processor = ScriptProcessor(image_uri=SKLEARN_IMAGE, command=["python3"], role=ROLE,
                                instance_type="ml.m5.large", instance_count=1,
                                sagemaker_session=ps)
    xgb_processor = ScriptProcessor(image_uri=XGBOOST_IMAGE, command=["python3"], role=ROLE,
                                    instance_type="ml.m5.large", instance_count=1,
                                    sagemaker_session=ps)
    run = unique("v3classic")

    def output(name: str) -> Any:
        return ProcessingOutput(output_name=name, s3_output=ProcessingS3Output(
            s3_uri=f"s3://{bucket}/{run}/{name}", local_path=f"/opt/ml/processing/{name}",
            s3_upload_mode="EndOfJob"))

    def data_in(name: str, uri: Any) -> Any:
        return ProcessingInput(input_name=name, s3_input=ProcessingS3Input(
            s3_uri=uri, local_path=f"/opt/ml/processing/{name}", s3_data_type="S3Prefix",
            s3_input_mode="File"))

    prep = ProcessingStep(name="Preprocess", step_args=processor.run(
        code=str(tmp_path / "preprocess.py"), outputs=[output("train"), output("test")]))
    outputs = prep.properties.ProcessingOutputConfig.Outputs
    trainer = ModelTrainer(
        training_image=XGBOOST_IMAGE, role=ROLE, sagemaker_session=ps,
        compute=Compute(instance_type="ml.m5.large", instance_count=1),
        base_job_name=run, hyperparameters={"objective": "reg:squarederror",
                                            "num_round": 20, "max_depth": 3})
    train = TrainingStep(name="Train", step_args=trainer.train(input_data_config=[InputData(
        channel_name="train", data_source=outputs["train"].S3Output.S3Uri,
        content_type="text/csv")]))
    artifact = train.properties.ModelArtifacts.S3ModelArtifacts
    report = PropertyFile(name="Evaluation", output_name="evaluation", path="evaluation.json")
    evaluate = ProcessingStep(name="Evaluate", property_files=[report],
                              step_args=xgb_processor.run(
        code=str(tmp_path / "evaluate.py"),
        inputs=[data_in("model", artifact), data_in("test", outputs["test"].S3Output.S3Uri)],
        outputs=[output("evaluation")]))
    builder = ModelBuilder(s3_model_data_url=artifact, image_uri=XGBOOST_IMAGE, role_arn=ROLE,
                           sagemaker_session=ps, instance_type="ml.m5.large")
    group = unique("v3group")
    register = ModelStep(name="Register", step_args=builder.register(
        model_package_group_name=group, content_types=["text/csv"],
        response_types=["text/csv"], inference_instances=["ml.m5.large"],
        transform_instances=["ml.m5.large"], approval_status="Approved",
        model_metrics=ModelMetrics(model_statistics=MetricsSource(
            content_type="application/json", s3_uri=Join(on="/", values=[
                evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"]
                .S3Output.S3Uri, "evaluation.json"])))))
    create = ModelStep(name="CreateModel", step_args=builder.build())
    transformer = Transformer(model_name=create.properties.ModelName,
                              instance_type="ml.m5.large", instance_count=1,
                              output_path=f"s3://{bucket}/{run}/scores", accept="text/csv",
                              assemble_with="Line", sagemaker_session=ps)
    score = TransformStep(name="Score", step_args=transformer.transform(
        data=Join(on="/", values=[outputs["test"].S3Output.S3Uri, "features.csv"]),
        content_type="text/csv", split_type="Line"))
    too_weak = FailStep(name="TooWeak", error_message=Join(
        on=" ", values=["rmse above", max_rmse]))
    def metric(name: str) -> Any:
        return JsonGet(step_name=evaluate.name, property_file=report,
                       json_path=f"regression_metrics.{name}.value")

    check = ConditionStep(name="Check", conditions=[
        ConditionLessThanOrEqualTo(left=metric("rmse"), right=max_rmse),
        ConditionGreaterThanOrEqualTo(left=metric("r2"), right=min_r2)],
        if_steps=[register, create, score], else_steps=[too_weak])
    pipeline = Pipeline(name=run, parameters=[max_rmse, min_r2],
                        steps=[prep, train, evaluate, check], sagemaker_session=ps)
    pipeline.upsert(role_arn=ROLE)
    return pipeline, group


def _finished(sm: Any, arn: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if described["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
            return described  # type: ignore[no-any-return]
        time.sleep(0.5)
    raise AssertionError(f"{arn} still running after {timeout}s")


def test_v3_classic_pipeline(cove: Any, bucket: str, tmp_path: Path, monkeypatch: Any) -> None:
    for name, value in cove.env().items():
        monkeypatch.setenv(name, value)
    pipeline, group = _pipeline(bucket, tmp_path)
    sm, s3 = cove.client("sagemaker"), cove.client("s3")
    execution = pipeline.start()
    described = _finished(sm, execution.arn)
    ran = {s["StepName"]: s for s in execution.list_steps()}
    assert described["PipelineExecutionStatus"] == "Succeeded", {
        k: v.get("FailureReason") for k, v in ran.items()}
    statuses = {name: step["StepStatus"] for name, step in ran.items()}
    assert statuses == dict.fromkeys(["Preprocess", "Train", "Evaluate", "Check", "Register",
                                      "CreateModel", "Score"], "Succeeded"), statuses
    assert ran["Check"]["Metadata"]["Condition"]["Outcome"] == "true"

    job = ran["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[-1]
    artifact = sm.describe_training_job(TrainingJobName=job)["ModelArtifacts"][
        "S3ModelArtifacts"]
    packages = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in packages] == \
        [ran["Register"]["Metadata"]["RegisterModel"]["Arn"]]
    package = sm.describe_model_package(ModelPackageName=packages[0]["ModelPackageArn"])
    assert package["ModelApprovalStatus"] == "Approved"
    container = package["InferenceSpecification"]["Containers"][0]
    assert (container["Image"], container["ModelDataUrl"]) == (XGBOOST_IMAGE, artifact)
    report = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    report_bucket, key = report[5:].split("/", 1)
    metrics = json.loads(s3.get_object(Bucket=report_bucket, Key=key)["Body"].read())[
        "regression_metrics"]
    assert metrics["rmse"]["value"] <= 2.0 and metrics["r2"]["value"] >= 0.5, metrics
    model = ran["CreateModel"]["Metadata"]["Model"]["Arn"].rsplit("/", 1)[-1]
    assert sm.describe_model(ModelName=model)["PrimaryContainer"]["ModelDataUrl"] == artifact

    transform = ran["Score"]["Metadata"]["TransformJob"]["Arn"].rsplit("/", 1)[-1]
    out = sm.describe_transform_job(TransformJobName=transform)["TransformOutput"]["S3OutputPath"]
    out_bucket, prefix = out[5:].split("/", 1)
    scored = s3.get_object(Bucket=out_bucket, Key=f"{prefix}/features.csv.out")["Body"].read()
    assert len([float(v) for v in scored.split()]) == 50  # one prediction per test row

    failing = pipeline.start(parameters={"MaxRmse": 0.0})
    described = _finished(sm, failing.arn)
    assert (described["PipelineExecutionStatus"], described["FailureReason"]) == \
        ("Failed", "rmse above 0.0")
    failed = {s["StepName"]: s for s in failing.list_steps()}
    assert set(failed) == {"Preprocess", "Train", "Evaluate", "Check", "TooWeak"}
    assert failed["Check"]["Metadata"]["Condition"]["Outcome"] == "false"
    assert failed["TooWeak"]["StepStatus"] == "Failed"

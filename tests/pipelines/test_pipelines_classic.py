"""The classic SageMaker pipeline through the SDK v2's ``sagemaker.workflow``, unchanged:
preprocess (SKLearnProcessor) → train (SKLearn estimator) → evaluate (a processing step that
writes evaluation.json, declared as a PropertyFile) → a ConditionStep on ``JsonGet`` of the
accuracy → register the model + create it + batch transform, or a FailStep."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from botocore.exceptions import WaiterError

from tests.training.helpers import ROLE, unique
from tests.training.test_sdk import session  # noqa: F401 - the SDK session fixture

PREPROCESS = """
import numpy as np, os
rng = np.random.default_rng(0)
X = rng.normal(size=(300, 3))
y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
for name, rows in (("train", slice(0, 200)), ("test", slice(200, 300))):
    os.makedirs(f"/opt/ml/processing/{name}", exist_ok=True)
    np.savetxt(f"/opt/ml/processing/{name}/{name}.csv", np.column_stack([y[rows], X[rows]]),
               delimiter=",", fmt="%.6f")
np.savetxt("/opt/ml/processing/test/features.csv", X[200:], delimiter=",", fmt="%.6f")
"""

TRAIN = """
import joblib, numpy as np, os
from sklearn.linear_model import LogisticRegression

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

if __name__ == "__main__":
    data = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "train.csv"),
                      delimiter=",")
    model = LogisticRegression().fit(data[:, 1:], data[:, 0])
    joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
"""

EVALUATE = """
import joblib, json, numpy as np, os, tarfile
with tarfile.open("/opt/ml/processing/model/model.tar.gz") as tar:
    tar.extractall("/tmp/model")
model = joblib.load("/tmp/model/model.joblib")
data = np.loadtxt("/opt/ml/processing/test/test.csv", delimiter=",")
accuracy = float((model.predict(data[:, 1:]) == data[:, 0]).mean())
os.makedirs("/opt/ml/processing/evaluation", exist_ok=True)
json.dump({"metrics": {"accuracy": {"value": accuracy}}},
          open("/opt/ml/processing/evaluation/evaluation.json", "w"))
print("accuracy", accuracy)
"""


def _pipeline(sm_session: Any, bucket: str, tmp_path: Path) -> tuple[Any, str]:
    from sagemaker.inputs import TrainingInput
    from sagemaker.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.processing import ProcessingInput, ProcessingOutput
    from sagemaker.sklearn.estimator import SKLearn
    from sagemaker.sklearn.model import SKLearnModel
    from sagemaker.sklearn.processing import SKLearnProcessor
    from sagemaker.transformer import Transformer
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.functions import Join, JsonGet
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.parameters import ParameterFloat
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.pipeline_context import PipelineSession
    from sagemaker.workflow.properties import PropertyFile
    from sagemaker.workflow.steps import ProcessingStep, TrainingStep, TransformStep

    for name, text in (("preprocess.py", PREPROCESS), ("train.py", TRAIN),
                       ("evaluate.py", EVALUATE)):
        (tmp_path / name).write_text(text)
    ps = PipelineSession(boto_session=sm_session.boto_session, default_bucket=bucket)
    min_accuracy = ParameterFloat(name="MinAccuracy", default_value=0.8)
    processor = SKLearnProcessor(framework_version="1.2-1", role=ROLE,
                                 instance_type="ml.m5.large", instance_count=1,
                                 sagemaker_session=ps)
    prep = ProcessingStep(name="Preprocess", step_args=processor.run(
        code=str(tmp_path / "preprocess.py"),
        outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train"),
                 ProcessingOutput(output_name="test", source="/opt/ml/processing/test")]))
    test_uri = prep.properties.ProcessingOutputConfig.Outputs["test"].S3Output.S3Uri
    estimator = SKLearn(entry_point="train.py", source_dir=str(tmp_path),
                        framework_version="1.2-1", role=ROLE, instance_type="ml.m5.large",
                        instance_count=1, sagemaker_session=ps)
    train = TrainingStep(name="Train", step_args=estimator.fit({"train": TrainingInput(
        prep.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri)}))
    report = PropertyFile(name="Evaluation", output_name="evaluation",
                          path="evaluation.json")
    evaluate = ProcessingStep(name="Evaluate", property_files=[report], step_args=processor.run(
        code=str(tmp_path / "evaluate.py"),
        inputs=[ProcessingInput(source=train.properties.ModelArtifacts.S3ModelArtifacts,
                                destination="/opt/ml/processing/model"),
                ProcessingInput(source=test_uri, destination="/opt/ml/processing/test")],
        outputs=[ProcessingOutput(output_name="evaluation",
                                  source="/opt/ml/processing/evaluation")]))
    model = SKLearnModel(model_data=train.properties.ModelArtifacts.S3ModelArtifacts,
                         role=ROLE, entry_point="train.py", source_dir=str(tmp_path),
                         framework_version="1.2-1", sagemaker_session=ps)
    group = unique("classic")
    register = ModelStep(name="Register", step_args=model.register(
        content_types=["text/csv"], response_types=["text/csv"],
        inference_instances=["ml.m5.large"], transform_instances=["ml.m5.large"],
        model_package_group_name=group, approval_status="Approved",
        model_metrics=ModelMetrics(model_statistics=MetricsSource(
            content_type="application/json", s3_uri=Join(on="/", values=[
                evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"]
                .S3Output.S3Uri, "evaluation.json"])))))
    create = ModelStep(name="CreateModel",
                       step_args=model.create(instance_type="ml.m5.large"))
    transformer = Transformer(model_name=create.properties.ModelName,
                              instance_type="ml.m5.large", instance_count=1,
                              output_path=f"s3://{bucket}/{group}-scores", accept="text/csv",
                              assemble_with="Line", sagemaker_session=ps)
    score = TransformStep(name="Score", step_args=transformer.transform(
        data=Join(on="/", values=[test_uri, "features.csv"]), content_type="text/csv",
        split_type="Line"))
    too_weak = FailStep(name="TooWeak", error_message=Join(
        on=" ", values=["accuracy below", min_accuracy]))
    check = ConditionStep(name="Check", conditions=[ConditionGreaterThanOrEqualTo(
        left=JsonGet(step_name=evaluate.name, property_file=report,
                     json_path="metrics.accuracy.value"), right=min_accuracy)],
        if_steps=[register, create, score], else_steps=[too_weak])
    pipeline = Pipeline(name=unique("classic"), parameters=[min_accuracy],
                        steps=[prep, train, evaluate, check], sagemaker_session=ps)
    pipeline.upsert(role_arn=ROLE)
    return pipeline, group


def test_classic_pipeline(session: Any, bucket: str, tmp_path: Path) -> None:  # noqa: F811
    pipeline, group = _pipeline(session, bucket, tmp_path)
    execution = pipeline.start()
    with contextlib.suppress(WaiterError):
        execution.wait(delay=1, max_attempts=600)
    ran = {s["StepName"]: s for s in execution.list_steps()}
    assert execution.describe()["PipelineExecutionStatus"] == "Succeeded", {
        k: v.get("FailureReason") for k, v in ran.items()}
    assert set(ran) == {"Preprocess", "Train", "Evaluate", "Check", "Register-RegisterModel",
                        "CreateModel-CreateModel", "Score"}
    assert ran["Check"]["Metadata"]["Condition"]["Outcome"] == "true"
    sm, s3 = session.sagemaker_client, session.boto_session.client("s3")
    package = sm.describe_model_package(
        ModelPackageName=ran["Register-RegisterModel"]["Metadata"]["RegisterModel"]["Arn"])
    report = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    evaluation = json.loads(s3.get_object(Bucket=bucket, Key=report.split("/", 3)[3])[
        "Body"].read())
    assert evaluation["metrics"]["accuracy"]["value"] >= 0.8
    scores = s3.list_objects_v2(Bucket=bucket, Prefix=f"{group}-scores/")["Contents"]
    body = s3.get_object(Bucket=bucket, Key=scores[0]["Key"])["Body"].read().decode()
    assert len(body.split()) == 100  # one prediction per test row

    failing = pipeline.start(parameters={"MinAccuracy": 1.01})
    with contextlib.suppress(WaiterError):
        failing.wait(delay=1, max_attempts=600)
    described = failing.describe()
    assert (described["PipelineExecutionStatus"], described["FailureReason"]) == \
        ("Failed", "accuracy below 1.01")

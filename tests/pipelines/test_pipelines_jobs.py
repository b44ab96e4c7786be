"""Tuning and Transform steps: the tuning step's best trial feeds a Model step the way the
SDK's ``get_top_model_s3_uri`` writes it, and a Transform step batch-scores with a model."""

from __future__ import annotations

from typing import Any

from tests.hosting.test_endpoints import csv_rows, xgb_model
from tests.pipelines.helpers import create, model_step, start, steps, wait
from tests.training.helpers import ROLE, XGBOOST_IMAGE, unique
from tests.tuning import helpers as tuning


def test_tuning_top_model_and_transform(cove: Any, s3: Any, bucket: str) -> None:
    sm = cove.client("sagemaker")
    url, booster, X = xgb_model(s3, bucket)
    scorer = unique("scorer")
    sm.create_model(ModelName=scorer, ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": url})
    data = f"batch/{unique('in')}/rows.csv"
    s3.put_object(Bucket=bucket, Key=data, Body=csv_rows(X[:20]))
    top = {"Std:Join": {"On": "/", "Values": [
        "s3:/", bucket, "tuning", {"Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"},
        "output/model.tar.gz"]}}
    best_model = model_step("BestModel", "Tune")
    best_model["Arguments"]["PrimaryContainer"]["ModelDataUrl"] = top
    out = f"s3://{bucket}/batch-out/{unique('o')}"
    name = unique("jobs")
    create(sm, name, [
        {"Name": "Tune", "Type": "Tuning", "Arguments": {
            "HyperParameterTuningJobConfig": tuning.config(max_jobs=3, parallel=2),
            "TrainingJobDefinition": tuning.definition(bucket, tuning.source(s3, bucket))}},
        best_model,
        {"Name": "Score", "Type": "Transform", "Arguments": {
            "ModelName": scorer, "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                "S3Uri": f"s3://{bucket}/{data}"}},
                "ContentType": "text/csv", "SplitType": "Line"},
            "TransformOutput": {"S3OutputPath": out, "AssembleWith": "Line"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}}])
    execution = start(sm, name)
    assert wait(sm, execution, timeout=300)["PipelineExecutionStatus"] == "Succeeded"
    ran = steps(sm, execution)
    tuned = ran["Tune"]["Metadata"]["TuningJob"]["Arn"].rsplit("/", 1)[-1]
    best = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuned)[
        "BestTrainingJob"]["TrainingJobName"]
    model = ran["BestModel"]["Metadata"]["Model"]["Arn"].rsplit("/", 1)[-1]
    assert sm.describe_model(ModelName=model)["PrimaryContainer"]["ModelDataUrl"] == \
        f"s3://{bucket}/tuning/{best}/output/model.tar.gz"
    scored = s3.get_object(Bucket=bucket, Key=f"{out.split('/', 3)[3]}/rows.csv.out")
    assert len(scored["Body"].read().decode().split()) == 20
    assert ran["Score"]["Metadata"]["TransformJob"]["Arn"]

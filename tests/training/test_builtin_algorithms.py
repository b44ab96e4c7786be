"""The built-in XGBoost and linear learner as training jobs: through the SDK and boto3, with
predictions equal to xgboost run in-process."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.training.helpers import ROLE, log_lines, unique, wait
from tests.training.test_sdk import session  # noqa: F401 - the SDK session fixture

XGB_PARAMS = {"max_depth": "5", "eta": "0.2", "gamma": "4", "min_child_weight": "6",
              "subsample": "0.8", "seed": "7"}


def _regression(rows: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 6))
    y = 3 * X[:, 0] - 2 * X[:, 1] + X[:, 2] * X[:, 3] + rng.normal(scale=0.1, size=rows)
    return X, y


def _csv(X: np.ndarray, y: np.ndarray | None = None) -> bytes:
    data = X if y is None else np.column_stack([y, X])
    buffer = io.StringIO()
    np.savetxt(buffer, data, delimiter=",", fmt="%.8g")
    return buffer.getvalue().encode()


def _booster(s3: Any, model_uri: str, tmp_path: Path) -> Any:
    import xgboost as xgb

    bucket, key = model_uri[5:].split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        tar.extractall(tmp_path / "model", filter="data")
    booster = xgb.Booster()
    booster.load_model(str(tmp_path / "model" / "xgboost-model"))
    return booster


def _in_process(X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray,
                params: dict[str, str], rounds: int, objective: str) -> Any:
    import xgboost as xgb

    converted = {k: float(v) if "." in v else int(v) for k, v in params.items()}
    converted["objective"] = objective
    dtrain, dval = xgb.DMatrix(X, label=y), xgb.DMatrix(Xv, label=yv)
    return xgb.train(converted, dtrain, num_boost_round=rounds,
                     evals=[(dtrain, "train"), (dval, "validation")], verbose_eval=False)


def test_xgboost_estimator_regression_matches_in_process(session: Any, bucket: str,  # noqa: F811
                                                        tmp_path: Path) -> None:
    import xgboost as xgb
    from sagemaker import image_uris
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput

    X, y = _regression()
    Xv, yv = _regression(100, seed=1)
    s3 = session.boto_session.client("s3")
    s3.put_object(Bucket=bucket, Key="xgb/train/train.csv", Body=_csv(X, y))
    s3.put_object(Bucket=bucket, Key="xgb/validation/validation.csv", Body=_csv(Xv, yv))
    image = image_uris.retrieve("xgboost", session.boto_region_name, "1.7-1")
    estimator = Estimator(image_uri=image, role=ROLE, instance_count=1,
                          instance_type="ml.m5.large", sagemaker_session=session,
                          output_path=f"s3://{bucket}/xgb/output")
    estimator.set_hyperparameters(objective="reg:linear", num_round=30, **XGB_PARAMS)
    name = unique("xgb-reg")
    estimator.fit({"train": TrainingInput(f"s3://{bucket}/xgb/train", content_type="text/csv"),
                   "validation": TrainingInput(f"s3://{bucket}/xgb/validation",
                                               content_type="text/csv")}, job_name=name)
    booster = _booster(s3, estimator.model_data, tmp_path)
    reference = _in_process(X, y, Xv, yv, XGB_PARAMS, 30, "reg:squarederror")
    np.testing.assert_allclose(booster.predict(xgb.DMatrix(Xv)),
                               reference.predict(xgb.DMatrix(Xv)), rtol=1e-5, atol=1e-6)
    described = session.sagemaker_client.describe_training_job(TrainingJobName=name)
    metrics = {m["MetricName"] for m in described["FinalMetricDataList"]}
    assert {"train:rmse", "validation:rmse"} <= metrics
    lines = log_lines(session.boto_session.client("logs"), name)
    assert any(line.startswith("[29]#011train-rmse:") for line in lines)


def test_xgboost_binary_libsvm_gzip_and_early_stopping(cove: Any, bucket: str,
                                                      tmp_path: Path) -> None:
    from sklearn.datasets import dump_svmlight_file

    s3, sm = cove.client("s3"), cove.client("sagemaker")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(float)
    buffer = io.BytesIO()
    dump_svmlight_file(X, y, buffer, zero_based=True)
    s3.put_object(Bucket=bucket, Key="bin/train/data.libsvm.gz",
                  Body=gzip.compress(buffer.getvalue()))
    s3.put_object(Bucket=bucket, Key="bin/validation/data.libsvm", Body=buffer.getvalue())
    name = unique("xgb-bin")
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/"
                                                 "sagemaker-xgboost:1.7-1",
                                "TrainingInputMode": "File"},
        HyperParameters={"objective": "binary:logistic", "num_round": "500",
                         "early_stopping_rounds": "5", "eval_metric": "error", **XGB_PARAMS},
        InputDataConfig=[
            {"ChannelName": "train", "ContentType": "text/libsvm", "CompressionType": "Gzip",
             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                             "S3Uri": f"s3://{bucket}/bin/train"}}},
            {"ChannelName": "validation", "ContentType": "text/libsvm",
             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                             "S3Uri": f"s3://{bucket}/bin/validation"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/bin/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1,
                        "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    d = wait(sm, name, timeout=300)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    rounds = [line for line in log_lines(cove.client("logs"), name) if line.startswith("[")]
    assert 5 < len(rounds) < 500  # early stopping ended it
    final = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert final["validation:error"] < 0.1


def test_xgboost_missing_num_round_fails_with_reason(cove: Any, bucket: str) -> None:
    s3, sm = cove.client("s3"), cove.client("sagemaker")
    X, y = _regression(50)
    s3.put_object(Bucket=bucket, Key="bad/train/train.csv", Body=_csv(X, y))
    name = unique("xgb-bad")
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/"
                                                 "sagemaker-xgboost:1.7-1",
                                "TrainingInputMode": "File"},
        HyperParameters={"objective": "reg:squarederror"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/bad/train"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/bad/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Failed"
    assert "num_round" in d["FailureReason"]


@pytest.mark.parametrize("predictor_type", ["regressor", "binary_classifier"])
def test_linear_learner(cove: Any, bucket: str, predictor_type: str) -> None:
    s3, sm = cove.client("s3"), cove.client("sagemaker")
    X, y = _regression(500)
    if predictor_type == "binary_classifier":
        y = (y > 0).astype(float)
    Xv, yv = X[:100], y[:100]
    s3.put_object(Bucket=bucket, Key=f"ll-{predictor_type}/train/t.csv", Body=_csv(X, y))
    s3.put_object(Bucket=bucket, Key=f"ll-{predictor_type}/validation/v.csv", Body=_csv(Xv, yv))
    name = unique("ll")
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "382416733822.dkr.ecr.us-east-1.amazonaws.com/"
                                                 "linear-learner:1",
                                "TrainingInputMode": "File"},
        HyperParameters={"feature_dim": "6", "predictor_type": predictor_type,
                         "mini_batch_size": "50", "epochs": "10"},
        InputDataConfig=[{"ChannelName": ch, "ContentType": "text/csv", "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix",
                             "S3Uri": f"s3://{bucket}/ll-{predictor_type}/{ch}"}}}
            for ch in ("train", "validation")],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/ll/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    d = wait(sm, name, timeout=300)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    final = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    if predictor_type == "regressor":
        assert final["validation:mse"] < 3.0
    else:
        assert final["validation:binary_classification_accuracy"] > 0.8
    assert d["ModelArtifacts"]["S3ModelArtifacts"].endswith("model.tar.gz")

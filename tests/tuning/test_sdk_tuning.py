"""HyperparameterTuner from the SageMaker Python SDK v2, unchanged, on built-in XGBoost and on a
script-mode estimator with metric definitions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.training.helpers import ROLE, unique
from tests.training.test_builtin_algorithms import _booster, _csv, _regression
from tests.training.test_sdk import session  # noqa: F401 - the SDK session fixture
from tests.tuning.helpers import TRAIN


def _xgboost(session: Any, bucket: str) -> tuple[Any, dict[str, Any]]:  # noqa: F811
    from sagemaker import image_uris
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput

    X, y = _regression(300)
    Xv, yv = _regression(100, seed=1)
    s3 = session.boto_session.client("s3")
    s3.put_object(Bucket=bucket, Key="tune/train/train.csv", Body=_csv(X, y))
    s3.put_object(Bucket=bucket, Key="tune/validation/validation.csv", Body=_csv(Xv, yv))
    estimator = Estimator(image_uri=image_uris.retrieve("xgboost", session.boto_region_name,
                                                        "1.7-1"),
                          role=ROLE, instance_count=1, instance_type="ml.m5.large",
                          sagemaker_session=session, output_path=f"s3://{bucket}/tune/output")
    estimator.set_hyperparameters(objective="reg:squarederror", num_round=20)
    inputs = {"train": TrainingInput(f"s3://{bucket}/tune/train", content_type="text/csv"),
              "validation": TrainingInput(f"s3://{bucket}/tune/validation",
                                          content_type="text/csv")}
    return estimator, inputs


@pytest.mark.parametrize("strategy", ["Bayesian", "Random"])
def test_xgboost_tuner_fit_analytics_attach(session: Any, bucket: str,  # noqa: F811
                                            strategy: str, tmp_path: Path) -> None:
    import xgboost as xgb
    from sagemaker.estimator import Estimator
    from sagemaker.tuner import (
        CategoricalParameter,
        ContinuousParameter,
        HyperparameterTuner,
        IntegerParameter,
    )

    estimator, inputs = _xgboost(session, bucket)
    tuner = HyperparameterTuner(
        estimator, objective_metric_name="validation:rmse", objective_type="Minimize",
        hyperparameter_ranges={"eta": ContinuousParameter(0.05, 0.5),
                               "max_depth": IntegerParameter(2, 6),
                               "subsample": CategoricalParameter([0.7, 1.0])},
        max_jobs=6, max_parallel_jobs=2, strategy=strategy, random_seed=11)
    name = unique("sdk-tune")[:32]
    tuner.fit(inputs, job_name=name, wait=False)
    tuner.wait()
    described = tuner.describe()
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 6
    frame = tuner.analytics().dataframe()
    assert len(frame) == 6
    assert set(frame.columns) >= {"eta", "max_depth", "subsample", "TrainingJobName",
                                  "FinalObjectiveValue", "TrainingJobStatus"}
    assert frame["max_depth"].between(2, 6).all() and frame["eta"].between(0.05, 0.5).all()
    best = tuner.best_training_job()
    assert best == frame.loc[frame["FinalObjectiveValue"].idxmin(), "TrainingJobName"]
    # each trial's objective is the job's own final validation:rmse
    sm = session.sagemaker_client
    for row in frame.itertuples():
        job = sm.describe_training_job(TrainingJobName=row.TrainingJobName)
        final = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
        assert final["validation:rmse"] == pytest.approx(row.FinalObjectiveValue)
        assert job["HyperParameters"]["_tuning_objective_metric"] == "validation:rmse"
    attached = HyperparameterTuner.attach(name, sagemaker_session=session)
    assert attached.best_training_job() == best
    assert attached.objective_metric_name == "validation:rmse"
    assert Estimator.attach(best, sagemaker_session=session).model_data.endswith(
        f"{best}/output/model.tar.gz")
    if strategy == "Bayesian":  # deploy the best model straight from the tuner, once
        from sagemaker.serializers import CSVSerializer

        predictor = tuner.deploy(initial_instance_count=1, instance_type="ml.m5.large",
                                 serializer=CSVSerializer())
        X, _ = _regression(5, seed=2)
        # the XGBoost container answers text/csv with one comma-separated line
        predictions = np.array(predictor.predict(X).decode().split(","), dtype=float)
        booster = _booster(session.boto_session.client("s3"),
                           Estimator.attach(best, sagemaker_session=session).model_data,
                           tmp_path)
        np.testing.assert_allclose(predictions, booster.predict(xgb.DMatrix(X)), rtol=1e-5)
        predictor.delete_endpoint()


def test_script_mode_tuner_with_metric_definitions(session: Any, bucket: str,  # noqa: F811
                                                   tmp_path: Path) -> None:
    from sagemaker.sklearn import SKLearn
    from sagemaker.tuner import ContinuousParameter, HyperparameterTuner

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(TRAIN)
    estimator = SKLearn(entry_point="train.py", source_dir=str(tmp_path / "src"), role=ROLE,
                        framework_version="1.2-1", instance_type="ml.m5.large",
                        sagemaker_session=session, hyperparameters={"epochs": 2},
                        output_path=f"s3://{bucket}/sk-tune")
    tuner = HyperparameterTuner(
        estimator, objective_metric_name="loss", objective_type="Minimize",
        metric_definitions=[{"Name": "loss", "Regex": r"loss: ([0-9.]+)"}],
        hyperparameter_ranges={"x": ContinuousParameter(0, 6)},
        max_jobs=4, max_parallel_jobs=2, strategy="Random", early_stopping_type="Auto")
    tuner.fit(job_name=unique("sk-tune")[:32])
    tuner.wait()
    frame = tuner.analytics().dataframe()
    assert len(frame) == 4
    for row in frame.itertuples():
        assert row.FinalObjectiveValue == pytest.approx((row.x - 3) ** 2 + 5, abs=1e-4)
    assert tuner.describe()["TrainingJobDefinition"]["AlgorithmSpecification"][
        "MetricDefinitions"] == [{"Name": "loss", "Regex": r"loss: ([0-9.]+)"}]

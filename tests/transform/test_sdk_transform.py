"""Batch transform with the SageMaker Python SDK v2, unchanged: estimator.transformer() after
fit(), and Transformer(model_name=...) with a join and filters, waited on with its logs."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.training.test_sdk import session  # noqa: F401 - the SDK session fixture
from tests.transform.helpers import (
    XGB_IMAGE,
    create_model,
    csv_rows,
    floats,
    read,
    unique,
    xgb_model,
)
from tests.transform.test_jobs import predict

ROLE = "arn:aws:iam::123456789012:role/CoveExecutionRole"


def booster_from(s3: Any, model_data: str) -> Any:
    import xgboost as xgb

    bucket, key = model_data[5:].split("/", 1)
    body = read(s3, bucket, key)
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        member = tar.extractfile("xgboost-model")
        assert member is not None
        booster = xgb.Booster()
        booster.load_model(bytearray(member.read()))
    return booster


def test_estimator_transformer(session: Any, bucket: str, tmp_path: Path) -> None:  # noqa: F811
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput

    rng = np.random.default_rng(11)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -1.0, 2.0])
    train = tmp_path / "train.csv"
    np.savetxt(train, np.column_stack([y, X]), delimiter=",")
    train_uri = session.upload_data(str(train), bucket=bucket, key_prefix="sdk/train")
    s3 = session.boto_session.client("s3")
    for part, rows in enumerate((X[:120], X[120:])):
        s3.put_object(Bucket=bucket, Key=f"sdk/batch/part-{part}.csv", Body=csv_rows(rows))
    estimator = Estimator(image_uri=XGB_IMAGE, role=ROLE, instance_count=1,
                          instance_type="ml.m5.large", sagemaker_session=session,
                          output_path=f"s3://{bucket}/sdk/models")
    estimator.set_hyperparameters(objective="reg:squarederror", num_round=15)
    estimator.fit({"train": TrainingInput(train_uri, content_type="text/csv")}, logs=False)
    transformer = estimator.transformer(instance_count=1, instance_type="ml.m5.large",
                                        output_path=f"s3://{bucket}/sdk/scored")
    transformer.transform(f"s3://{bucket}/sdk/batch", content_type="text/csv",
                          split_type="Line", wait=True, logs=False)
    booster = booster_from(s3, estimator.model_data)
    for part, rows in enumerate((X[:120], X[120:])):
        np.testing.assert_array_equal(
            floats(read(s3, bucket, f"sdk/scored/part-{part}.csv.out")), predict(booster, rows))
    described = session.sagemaker_client.describe_transform_job(
        TransformJobName=transformer.latest_transform_job.name)
    assert described["TransformJobStatus"] == "Completed"
    assert described["ModelName"] == transformer.model_name


def test_transformer_with_join_and_filters(session: Any, bucket: str,  # noqa: F811
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from sagemaker.transformer import Transformer

    s3 = session.boto_session.client("s3")
    url, booster, X = xgb_model(s3, bucket)
    body = b"".join(f"row-{i},".encode() + line + b"\n"
                    for i, line in enumerate(csv_rows(X[:30]).split(b"\n")))
    s3.put_object(Bucket=bucket, Key="joined/in/rows.csv", Body=body)
    model = create_model(session.sagemaker_client, url)
    transformer = Transformer(model_name=model, instance_count=1, instance_type="ml.m5.large",
                              strategy="MultiRecord", assemble_with="Line", accept="text/csv",
                              max_payload=1, output_path=f"s3://{bucket}/joined/out",
                              sagemaker_session=session)
    name = unique("sdk-join")
    transformer.transform(f"s3://{bucket}/joined/in/", content_type="text/csv",
                          split_type="Line", job_name=name, input_filter="$[1:]",
                          join_source="Input", output_filter="$[0,-1]", wait=False)
    transformer.wait()  # with logs, as the SDK shows them
    shown = capsys.readouterr().out.splitlines()
    assert sum("Completed: 30 record(s) in 1 object(s)" in line for line in shown) == 1
    said = [line for line in shown if "Mini-batches" in line or "record(s) in" in line
            or "cove-worker" in line]
    assert len(said) >= 4 and len(said) == len(set(said)), said  # each line once
    lines = [line.split(",") for line in read(s3, bucket, "joined/out/rows.csv.out").decode()
             .splitlines()]
    assert [line[0] for line in lines] == [f"row-{i}" for i in range(30)]
    np.testing.assert_array_equal(np.array([line[1] for line in lines], dtype=np.float32),
                                  predict(booster, X[:30]))
    attached = Transformer.attach(name, sagemaker_session=session)
    assert (attached.model_name, attached.assemble_with, attached.strategy) == (
        model, "Line", "MultiRecord")

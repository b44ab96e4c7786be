"""The built-in linear learner runtime: a model trained by the real training module, served."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.datasets import make_classification, make_regression

from cove.algorithms.linear_learner_model import LinearLearnerModel
from tests.algorithms.conftest import JobDir
from tests.serving.conftest import Worker, run_failing_worker, start_worker

Array = npt.NDArray[np.float64]


def trained(root: Path, predictor_type: str, features: Array, labels: Array,
            **hyperparameters: str) -> Path:
    job = JobDir(root / "job")
    job.add_csv("train", labels, features)
    job.hyperparameters = {"feature_dim": str(features.shape[1]),
                           "predictor_type": predictor_type, "mini_batch_size": "100",
                           "epochs": "3", **hyperparameters}
    run = job.run("cove.algorithms.linear_learner")
    assert run.returncode == 0, run.stderr
    return job.model_dir


@pytest.fixture(scope="module")
def regressor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Worker, Array]]:
    root = tmp_path_factory.mktemp("ll-regressor")
    features, labels = make_regression(n_samples=300, n_features=5, noise=1.0, random_state=0)
    model_dir = trained(root, "regressor", features, labels)
    worker = start_worker(root / "worker", model_dir, "linear-learner")
    yield model_dir, worker, features[:20]
    worker.stop()


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Worker, Array]]:
    root = tmp_path_factory.mktemp("ll-binary")
    features, labels = make_classification(n_samples=300, n_features=4, n_informative=3,
                                           n_redundant=0, random_state=1)
    model_dir = trained(root, "binary_classifier", features, labels.astype(np.float64))
    worker = start_worker(root / "worker", model_dir, "linear-learner")
    yield model_dir, worker, features[:20]
    worker.stop()


def csv(rows: Array) -> str:
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows)


def test_regressor_csv_in_json_out(regressor: tuple[Path, Worker, Array]) -> None:
    model_dir, worker, rows = regressor

    response = worker.invoke(csv(rows))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    predictions = response.json()["predictions"]
    assert predictions == LinearLearnerModel.load(model_dir).predict(rows)
    assert set(predictions[0]) == {"score"}


def test_binary_classifier_records(classifier: tuple[Path, Worker, Array]) -> None:
    model_dir, worker, rows = classifier

    response = worker.invoke(csv(rows), accept="application/json")

    predictions = response.json()["predictions"]
    assert predictions == LinearLearnerModel.load(model_dir).predict(rows)
    assert {p["predicted_label"] for p in predictions} <= {0, 1}
    assert all(0 <= p["score"] <= 1 for p in predictions)


def test_json_instances_in_jsonlines_out(classifier: tuple[Path, Worker, Array]) -> None:
    model_dir, worker, rows = classifier
    instances = [{"features": list(map(float, rows[0]))},
                 {"data": {"features": {"values": list(map(float, rows[1]))}}},
                 {"data": {"features": {"keys": [1, 3], "values": [0.5, -2.0], "shape": [4]}}}]
    sparse_row = np.array([0.0, 0.5, 0.0, -2.0])

    response = worker.invoke(json.dumps({"instances": instances}),
                             content_type="application/json", accept="application/jsonlines")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/jsonlines"
    records = [json.loads(line) for line in response.text.splitlines()]
    want = LinearLearnerModel.load(model_dir).predict(np.vstack([rows[0], rows[1], sparse_row]))
    assert records == want


def test_jsonlines_in(regressor: tuple[Path, Worker, Array]) -> None:
    model_dir, worker, rows = regressor
    body = "".join(json.dumps({"features": list(map(float, row))}) + "\n" for row in rows[:3])

    response = worker.invoke(body, content_type="application/jsonlines")

    assert response.json()["predictions"] == LinearLearnerModel.load(model_dir).predict(rows[:3])


def test_errors(regressor: tuple[Path, Worker, Array]) -> None:
    _, worker, rows = regressor

    csv_out = worker.invoke(csv(rows[:1]), accept="text/csv")
    protobuf = worker.invoke(b"\x00", content_type="application/x-recordio-protobuf")
    wrong_width = worker.invoke("1,2,3\n")
    bad_json = worker.invoke("{", content_type="application/json")

    assert csv_out.status_code == 406
    assert "application/json, application/jsonlines" in csv_out.text
    assert protobuf.status_code == 415
    assert wrong_width.status_code == 400
    assert "feature_dim=5" in wrong_width.text
    assert bad_json.status_code == 400
    assert "not valid JSON" in bad_json.text


def test_missing_model_fails_to_load(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "xgboost-model").write_bytes(b"x")

    failure = run_failing_worker(tmp_path / "w", model_dir, "linear-learner")

    assert failure.returncode == 1
    assert failure.reason is not None
    assert "no linear-learner-model.json" in failure.reason
    assert "xgboost-model" in failure.reason

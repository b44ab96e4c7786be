"""The built-in XGBoost runtime, served by a real worker process."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import scipy.sparse as sp
import xgboost

from tests.serving.conftest import Worker, run_failing_worker, start_worker

Array = npt.NDArray[np.float64]
ROWS = np.random.default_rng(7).normal(size=(60, 6))


def train(objective: str, **params: object) -> xgboost.Booster:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(300, 6))
    labels = {"reg:squarederror": features[:, 0] * 3 + features[:, 1],
              "binary:logistic": (features[:, 0] + features[:, 2] > 0) * 1.0,
              "multi:softprob": np.digitize(features[:, 0], [-0.5, 0.5]) * 1.0}[objective]
    return xgboost.train({"objective": objective, "max_depth": 3, "seed": 0, **params},
                         xgboost.DMatrix(features, label=labels), num_boost_round=15)


def save(booster: xgboost.Booster, model_dir: Path, name: str = "xgboost-model") -> Path:
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / name).write_bytes(bytes(booster.save_raw(raw_format="ubj")))
    return model_dir


def csv(rows: Array) -> str:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in rows) + "\n"


def expected(booster: xgboost.Booster, rows: Array | sp.csr_matrix) -> npt.NDArray[np.float32]:
    predictions: npt.NDArray[np.float32] = booster.predict(xgboost.DMatrix(rows))
    return predictions


def as_float32(values: list[float] | list[list[float]]) -> npt.NDArray[np.float32]:
    return np.asarray(values, dtype=np.float64).astype(np.float32)


MODELS = {"regression": ("reg:squarederror", {}),
          "binary": ("binary:logistic", {}),
          "multiclass": ("multi:softprob", {"num_class": 3}),
          # gblinear: the container serves it; XGBoost has no in-place predictor for it
          "linear": ("binary:logistic", {"booster": "gblinear"})}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[dict[str, tuple[xgboost.Booster, Worker]]]:
    root = tmp_path_factory.mktemp("xgboost")
    running: dict[str, tuple[xgboost.Booster, Worker]] = {}
    try:
        for name, (objective, params) in MODELS.items():
            booster = train(objective, **params)
            model_dir = save(booster, root / name / "model")
            running[name] = (booster, start_worker(root / name, model_dir, "xgboost"))
        yield running
    finally:
        for _, worker in running.values():
            worker.stop()


@pytest.mark.parametrize("name", ["regression", "binary"])
def test_csv_predictions_are_comma_joined_and_equal_in_process(
        served: dict[str, tuple[xgboost.Booster, Worker]], name: str) -> None:
    booster, worker = served[name]

    response = worker.invoke(csv(ROWS), accept="text/csv")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv"
    assert "\n" not in response.text
    values = [float(v) for v in response.text.split(",")]
    np.testing.assert_array_equal(as_float32(values), expected(booster, ROWS))
    parsed = np.fromstring(response.text, sep=",")  # what the tutorials' notebooks do
    assert parsed.shape == (len(ROWS),)


def test_multiclass_csv_is_one_line_of_probabilities_per_row(
        served: dict[str, tuple[xgboost.Booster, Worker]]) -> None:
    booster, worker = served["multiclass"]

    response = worker.invoke(csv(ROWS), accept="text/csv")

    assert response.status_code == 200, response.text
    lines = response.text.splitlines()
    assert len(lines) == len(ROWS)
    table = [[float(v) for v in line.split(",")] for line in lines]
    np.testing.assert_array_equal(as_float32(table), expected(booster, ROWS))


@pytest.mark.parametrize("name", ["binary", "multiclass"])
def test_json_and_jsonlines(served: dict[str, tuple[xgboost.Booster, Worker]], name: str) -> None:
    booster, worker = served[name]
    want = expected(booster, ROWS)

    as_json = worker.invoke(csv(ROWS), accept="application/json")
    as_lines = worker.invoke(csv(ROWS), accept="application/jsonlines")

    assert as_json.headers["content-type"] == "application/json"
    scores = [p["score"] for p in as_json.json()["predictions"]]
    np.testing.assert_array_equal(as_float32(scores), want)
    assert as_lines.headers["content-type"] == "application/jsonlines"
    records = [json.loads(line) for line in as_lines.text.splitlines()]
    assert [r["score"] for r in records] == scores


def test_absent_or_any_accept_means_csv(served: dict[str, tuple[xgboost.Booster, Worker]]) -> None:
    _, worker = served["regression"]
    explicit = worker.invoke(csv(ROWS[:3]), accept="text/csv")

    for accept in (None, "*/*"):
        response = worker.invoke(csv(ROWS[:3]), accept=accept)
        assert response.headers["content-type"] == "text/csv"
        assert response.text == explicit.text


def test_one_row_without_trailing_newline_and_charset_parameter(
        served: dict[str, tuple[xgboost.Booster, Worker]]) -> None:
    booster, worker = served["binary"]
    body = ",".join(repr(float(v)) for v in ROWS[0])

    response = worker.invoke(body, content_type="text/csv; charset=utf-8")

    assert response.status_code == 200
    assert as_float32([float(response.text)]) == expected(booster, ROWS[:1])


def test_empty_fields_are_missing_values(
        served: dict[str, tuple[xgboost.Booster, Worker]]) -> None:
    booster, worker = served["regression"]
    rows = ROWS[:4].copy()
    rows[0, 1] = rows[2, 5] = rows[3, 0] = np.nan
    body = "\n".join(",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in rows)

    response = worker.invoke(body)

    assert response.status_code == 200, response.text
    values = [float(v) for v in response.text.split(",")]
    np.testing.assert_array_equal(as_float32(values), expected(booster, rows))


def test_libsvm_rows(served: dict[str, tuple[xgboost.Booster, Worker]]) -> None:
    booster, worker = served["regression"]
    body = "1.5 0:0.5 2:-1.25 5:2\n0 1:3\n3:1e-2 4:7\n"
    matrix = sp.csr_matrix(([0.5, -1.25, 2.0, 3.0, 0.01, 7.0], [0, 2, 5, 1, 3, 4], [0, 3, 4, 6]),
                           shape=(3, 6))

    for content_type in ("text/libsvm", "text/x-libsvm"):
        response = worker.invoke(body, content_type=content_type)
        assert response.status_code == 200, response.text
        values = [float(v) for v in response.text.split(",")]
        np.testing.assert_array_equal(as_float32(values), expected(booster, matrix))


def test_a_linear_booster_answers_csv_and_libsvm(
        served: dict[str, tuple[xgboost.Booster, Worker]]) -> None:
    booster, worker = served["linear"]
    response = worker.invoke(csv(ROWS[:5]), content_type="text/csv")
    assert response.status_code == 200, response.text
    values = [float(v) for v in response.text.split(",")]
    np.testing.assert_array_equal(as_float32(values), expected(booster, ROWS[:5]))
    response = worker.invoke("0:0.5 2:-1.25\n1:3\n", content_type="text/libsvm")
    assert response.status_code == 200, response.text
    matrix = sp.csr_matrix(([0.5, -1.25, 3.0], [0, 2, 1], [0, 2, 3]), shape=(2, 6))
    values = [float(v) for v in response.text.split(",")]
    np.testing.assert_allclose(as_float32(values), expected(booster, matrix), rtol=1e-6)


def test_unsupported_content_types_are_415(
        served: dict[str, tuple[xgboost.Booster, Worker]]) -> None:
    _, worker = served["binary"]

    protobuf = worker.invoke(b"\x0a\x0b", content_type="application/x-recordio-protobuf")
    as_json = worker.invoke("[[1, 2]]", content_type="application/json")

    assert protobuf.status_code == 415
    assert "recordio-protobuf is not supported" in protobuf.text
    assert as_json.status_code == 415
    assert "text/csv, text/libsvm" in as_json.text
    assert "415" in worker.stderr()


def test_unsupported_accept_is_406(served: dict[str, tuple[xgboost.Booster, Worker]]) -> None:
    _, worker = served["binary"]

    for accept in ("application/x-recordio-protobuf", "text/html"):
        response = worker.invoke(csv(ROWS[:2]), accept=accept)
        assert response.status_code == 406
        assert f"Accept type {accept} is not supported" in response.text


def test_bad_rows(served: dict[str, tuple[xgboost.Booster, Worker]]) -> None:
    _, worker = served["binary"]

    with_label = worker.invoke(csv(np.column_stack([np.ones(3), ROWS[:3]])))
    not_numbers = worker.invoke("1,2,3,4,5,six\n")
    ragged = worker.invoke("1,2,3,4,5,6\n1,2,3\n")

    assert with_label.status_code == 400
    assert "7 feature columns but the model was trained on 6" in with_label.text
    assert not_numbers.status_code == 415
    assert "column 6: 'six' is not a number" in not_numbers.text
    assert ragged.status_code == 415
    assert "line 2 has 3 fields" in ragged.text


def test_empty_body_is_204(served: dict[str, tuple[xgboost.Booster, Worker]]) -> None:
    _, worker = served["binary"]

    response = worker.invoke(b"")

    assert response.status_code == 204
    assert response.content == b""


def test_custom_attributes_are_echoed(served: dict[str, tuple[xgboost.Booster, Worker]]) -> None:
    _, worker = served["binary"]
    attributes = {"X-Amzn-SageMaker-Custom-Attributes": "trace=abc; tenant=7"}

    response = worker.invoke(csv(ROWS[:1]), **attributes)

    assert response.headers["x-amzn-sagemaker-custom-attributes"] == "trace=abc; tenant=7"
    assert "x-amzn-sagemaker-custom-attributes" not in worker.invoke(csv(ROWS[:1])).headers


def test_bag_of_words_row(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    counts = ((rng.random((200, 5000)) < 0.02) * rng.integers(1, 4, (200, 5000))).astype(float)
    labels = (counts[:, :40].sum(1) > counts[:, 40:80].sum(1)) * 1.0
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 4},
                            xgboost.DMatrix(counts, label=labels), num_boost_round=20)
    worker = start_worker(tmp_path, save(booster, tmp_path / "model"), "xgboost")
    try:
        for row in counts[:5]:
            response = worker.invoke(",".join(str(int(v)) for v in row))
            assert as_float32([float(response.text)]) == expected(booster, row.reshape(1, -1))
    finally:
        worker.stop()


def test_batch_and_default_accept_environment(tmp_path: Path) -> None:
    booster = train("binary:logistic")
    env = {"SAGEMAKER_BATCH": "true", "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/json"}
    worker = start_worker(tmp_path, save(booster, tmp_path / "model"), "xgboost", env=env)
    try:
        response = worker.invoke(csv(ROWS[:5]))
    finally:
        worker.stop()

    assert response.headers["content-type"] == "application/json"
    lines = response.text.split("\n")
    assert lines[-1] == "" and len(lines) == 6
    np.testing.assert_array_equal(as_float32([float(v) for v in lines[:-1]]),
                                  expected(booster, ROWS[:5]))


def test_other_model_file_names_and_pickles(tmp_path: Path) -> None:
    booster = train("reg:squarederror")
    json_dir = tmp_path / "json-model"
    json_dir.mkdir()
    booster.save_model(str(json_dir / "model.json"))
    pickle_dir = tmp_path / "pickle-model"
    pickle_dir.mkdir()
    (pickle_dir / "xgboost-model").write_bytes(pickle.dumps(booster))

    for model_dir in (json_dir, pickle_dir):
        worker = start_worker(tmp_path / f"w-{model_dir.name}", model_dir, "xgboost")
        try:
            values = [float(v) for v in worker.invoke(csv(ROWS[:4])).text.split(",")]
        finally:
            worker.stop()
        np.testing.assert_array_equal(as_float32(values), expected(booster, ROWS[:4]))


@pytest.mark.parametrize("content, reason", [
    (b"not a model at all", "is not an XGBoost model"),
    (b"", "is empty"),
    (None, "has no xgboost-model file"),
])
def test_load_failures_exit_1_with_a_reason(tmp_path: Path, content: bytes | None,
                                            reason: str) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    if content is not None:
        (model_dir / "xgboost-model").write_bytes(content)
    (model_dir / "notes.txt").write_text("x")
    (model_dir / "more.txt").write_text("y")

    failure = run_failing_worker(tmp_path / "w", model_dir, "xgboost")

    assert failure.returncode == 1, failure.output
    assert failure.reason is not None and reason in failure.reason
    assert "Traceback" in failure.output


def test_truncated_model_fails_to_load(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    data = bytes(train("binary:logistic").save_raw(raw_format="ubj"))
    model_dir.mkdir()
    (model_dir / "xgboost-model").write_bytes(data[: len(data) // 2])

    failure = run_failing_worker(tmp_path / "w", model_dir, "xgboost")

    assert failure.returncode == 1
    assert failure.reason is not None
    assert "xgboost-model is not an XGBoost model" in failure.reason
    assert "truncated" in failure.reason

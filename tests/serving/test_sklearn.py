"""scikit-learn script mode: default handlers, the user's handlers, context, transform_fn, and
the failures a user can cause."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import joblib
import numpy as np
import numpy.typing as npt
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from tests.serving.conftest import Worker, run_failing_worker, start_worker, write_code

Array = npt.NDArray[np.float64]
RNG = np.random.default_rng(5)
FEATURES = RNG.normal(size=(200, 3))
ROWS = FEATURES[:8]


def regression_model(model_dir: Path) -> LinearRegression:
    model = LinearRegression().fit(FEATURES, FEATURES @ [1.5, -2.0, 0.25] + 3)
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_dir / "model.joblib")
    return model


def csv(rows: Array) -> str:
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows)


def npy(array: Array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def defaults(tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[LinearRegression, Worker]]:
    """A model.joblib and no inference code at all: every handler is the default."""
    root = tmp_path_factory.mktemp("sklearn-defaults")
    model = regression_model(root / "model")
    worker = start_worker(root, root / "model", "sklearn")
    yield model, worker
    worker.stop()


def test_default_handlers_csv_json_npy(defaults: tuple[LinearRegression, Worker]) -> None:
    model, worker = defaults
    as_float32 = model.predict(ROWS.astype(np.float32))  # the container casts CSV/JSON input

    from_csv = worker.invoke(csv(ROWS))
    from_json = worker.invoke(json.dumps(ROWS.tolist()), content_type="application/json",
                              accept="text/csv")
    from_npy = worker.invoke(npy(ROWS), content_type="application/x-npy",
                             accept="application/x-npy")

    assert from_csv.headers["content-type"] == "application/json"
    assert from_csv.json() == as_float32.tolist()
    assert from_json.headers["content-type"] == "text/csv"
    assert from_json.text == "".join(f"{v!s}\n" for v in as_float32)
    assert from_npy.headers["content-type"] == "application/x-npy"
    np.testing.assert_array_equal(np.load(io.BytesIO(from_npy.content)), model.predict(ROWS))


def test_default_handlers_refuse_unknown_types(defaults: tuple[LinearRegression, Worker]) -> None:
    _, worker = defaults

    content = worker.invoke(b"abc", content_type="application/octet-stream")
    accept = worker.invoke(csv(ROWS), accept="application/x-parquet")
    listed = worker.invoke(csv(ROWS), accept="application/x-parquet, text/csv")

    assert content.status_code == 415
    assert "application/octet-stream is not supported" in content.text
    assert accept.status_code == 406
    assert "Implement output_fn" in accept.text
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "text/csv"


HANDLERS = """
import json
import os

import joblib
import numpy as np

seen = []


def model_fn(model_dir):
    return {"model": joblib.load(os.path.join(model_dir, "model.joblib")), "offset": 100.0}


def input_fn(body, content_type, context):
    seen.append((type(body).__name__, content_type))
    if content_type == "application/x-text-rows":
        return np.array([[float(v) for v in line.split()] for line in body.decode().splitlines()])
    return np.array(json.loads(body)["rows"])


def predict_fn(data, model):
    if data.shape[1] != 3:
        raise ValueError(f"expected 3 columns, got {data.shape[1]}")
    return model["model"].predict(data) + model["offset"]


def output_fn(prediction, accept, context):
    attributes = context.get_request_header(0, "X-Amzn-SageMaker-Custom-Attributes")
    if attributes:
        context.set_response_header(0, "X-Amzn-SageMaker-Custom-Attributes", attributes + ";ok")
    body = json.dumps({"values": prediction.tolist(), "seen": seen[-1],
                       "model_dir": os.path.basename(context.system_properties["model_dir"])})
    return body, "application/vnd.cove+json"
"""


@pytest.fixture(scope="module")
def handlers(tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[LinearRegression, Worker]]:
    root = tmp_path_factory.mktemp("sklearn-handlers")
    model = regression_model(root / "model")
    write_code(root / "code", HANDLERS)
    worker = start_worker(root, root / "model", "sklearn", code_dir=root / "code",
                          entry_point="inference.py")
    yield model, worker
    worker.stop()


def test_user_handlers_with_and_without_context(handlers: tuple[LinearRegression, Worker]
                                                ) -> None:
    model, worker = handlers

    response = worker.invoke(json.dumps({"rows": ROWS.tolist()}), content_type="application/json",
                             **{"X-Amzn-SageMaker-Custom-Attributes": "id=42"})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.cove+json"
    assert response.headers["x-amzn-sagemaker-custom-attributes"] == "id=42;ok"
    document = response.json()
    assert document["values"] == (model.predict(ROWS) + 100.0).tolist()
    assert document["seen"] == ["str", "application/json"]  # JSON bodies arrive decoded
    assert document["model_dir"] == "model"


def test_other_content_types_arrive_as_bytes(handlers: tuple[LinearRegression, Worker]) -> None:
    model, worker = handlers
    body = "".join(" ".join(repr(float(v)) for v in row) + "\n" for row in ROWS)

    response = worker.invoke(body, content_type="application/x-text-rows")

    assert response.json()["seen"] == ["bytes", "application/x-text-rows"]
    assert response.json()["values"] == (model.predict(ROWS) + 100.0).tolist()


def test_handler_exception_is_500_with_its_message(
        handlers: tuple[LinearRegression, Worker]) -> None:
    _, worker = handlers

    response = worker.invoke(json.dumps({"rows": [[1.0, 2.0]]}), content_type="application/json")

    assert response.status_code == 500
    assert response.text.strip() == "ValueError: expected 3 columns, got 2"
    assert "-> 500: ValueError: expected 3 columns, got 2 (inference.py:" in worker.stderr()
    assert "in predict_fn)" in worker.stderr()


TRANSFORM_ONLY = """
import numpy as np


class ToolkitError(Exception):  # the shape of sagemaker_inference's GenericInferenceToolkitError
    def __init__(self, status_code, message=None, phrase=None):
        self.status_code = status_code
        self.message = message or "Invalid Request"
        self.phrase = phrase or self.message
        super().__init__(status_code, self.message, self.phrase)


def model_fn(model_dir, context):
    assert context.system_properties["model_dir"] == model_dir
    return 2.0


def transform_fn(model, body, content_type, accept):
    if content_type != "text/csv":
        raise ToolkitError(422, f"cannot read {content_type}")
    values = np.array([float(v) for v in body.split(",")]) * model
    return ",".join(str(v) for v in values)
"""


def test_transform_fn_alone(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    write_code(model_dir / "code", TRANSFORM_ONLY, name="serve.py")
    env = {"SAGEMAKER_PROGRAM": "serve.py", "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}
    worker = start_worker(tmp_path / "w", model_dir, "sklearn", env=env)  # code/ in the model
    try:
        doubled = worker.invoke("1.5,2,3", accept="*/*")
        refused = worker.invoke(b"\x00", content_type="application/octet-stream")
    finally:
        worker.stop()

    assert doubled.status_code == 200
    assert doubled.text == "3.0,4.0,6.0"
    assert doubled.headers["content-type"] == "text/csv"  # the default accept
    assert refused.status_code == 422
    assert refused.text.strip() == "ToolkitError: cannot read application/octet-stream"


@pytest.mark.parametrize("source, reason", [
    ("def model_fn(model_dir):\n    raise ValueError('no weights in ' + model_dir)\n",
     "model_fn raised ValueError: no weights in "),
    ("def model_fn(model_dir)\n    return 1\n", "has a syntax error at line 1"),
    ("import not_a_module_anyone_has\n",
     "raised ModuleNotFoundError: No module named 'not_a_module_anyone_has'"),
    ("def model_fn(d):\n    return 1\ndef transform_fn(m, b, c, a):\n    return b\n"
     "def input_fn(b, c):\n    return b\n", "Cannot use transform_fn implementation"),
    ("def model_fn():\n    return 1\n", "model_fn takes 0 arguments"),
    ("def predict_fn(data, model):\n    return data\n", "defines no model_fn"),
])
def test_load_failures_explain_themselves(tmp_path: Path, source: str, reason: str) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    write_code(tmp_path / "code", source)

    failure = run_failing_worker(tmp_path / "w", model_dir, "sklearn", code_dir=tmp_path / "code",
                                 entry_point="inference.py")

    assert failure.returncode == 1, failure.output
    assert failure.reason is not None and reason in failure.reason, failure.reason
    assert reason.split(" ")[0] in failure.output


def test_missing_entry_point(tmp_path: Path) -> None:
    write_code(tmp_path / "code", "x = 1\n", name="other.py")
    (tmp_path / "model").mkdir()

    failure = run_failing_worker(tmp_path / "w", tmp_path / "model", "sklearn",
                                 code_dir=tmp_path / "code", entry_point="inference.py")

    assert failure.returncode == 1
    assert failure.reason is not None
    assert "inference.py is not in the inference code (found: other.py)" in failure.reason


def test_classifier_labels_as_csv(tmp_path: Path) -> None:
    labels = (FEATURES[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(FEATURES, labels)
    (tmp_path / "model").mkdir()
    joblib.dump(model, tmp_path / "model" / "model.joblib")
    worker = start_worker(tmp_path / "w", tmp_path / "model", "sklearn")
    try:
        response = worker.invoke(csv(ROWS), accept="text/csv")
    finally:
        worker.stop()

    assert response.text.split() == [str(v) for v in model.predict(ROWS.astype(np.float32))]


STATUS = r"""
def model_fn(model_dir):
    return None


def transform_fn(model, body, content_type, accept, context):
    if body == "bad":
        context.set_response_status(422, "unprocessable")
        return "rejected: bad"
    context.set_response_header(0, "X-Amzn-SageMaker-Custom-Attributes", "a=1\x00\x7fb\r\n")
    return "fine", "text/plain;\x01 charset=utf-8"
"""


def test_status_and_headers_set_through_the_context(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    write_code(tmp_path / "code", STATUS)
    worker = start_worker(tmp_path / "w", tmp_path / "model", "sklearn",
                          code_dir=tmp_path / "code", entry_point="inference.py")
    try:
        rejected, fine = worker.invoke("bad"), worker.invoke("good")
    finally:
        worker.stop()

    assert (rejected.status_code, rejected.text) == (422, "rejected: bad")
    assert (fine.status_code, fine.text) == (200, "fine")
    # control characters a handler put in a header would split or break the response
    assert fine.headers["x-amzn-sagemaker-custom-attributes"] == "a=1  b"
    assert fine.headers["content-type"] == "text/plain;  charset=utf-8"

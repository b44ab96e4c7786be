"""PyTorch script mode: a tutorial-style nn.Module with all four handlers, the toolkit's
defaults on a TorchScript model, and load failures."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tests.serving.conftest import run_failing_worker, start_worker, write_code

MODEL_CODE = """
import torch
from torch import nn


class Scorer(nn.Module):
    def __init__(self, vocab_size, hidden):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, 8, padding_idx=0)
        self.dense = nn.Linear(8, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, tokens):
        pooled = self.embedding(tokens).mean(dim=1)
        return torch.sigmoid(self.out(torch.relu(self.dense(pooled)))).squeeze(-1)
"""

INFERENCE = """
import json
import os

import torch

from model import Scorer


def model_fn(model_dir):
    with open(os.path.join(model_dir, "model_info.json")) as f:
        info = json.load(f)
    model = Scorer(info["vocab_size"], info["hidden"])
    model.load_state_dict(torch.load(os.path.join(model_dir, "model.pth")))
    return model.eval()


def input_fn(body, content_type):
    if content_type != "text/plain":
        raise ValueError("send text/plain")
    words = body.decode("utf-8").lower().split()
    return torch.tensor([[(sum(map(ord, w)) % 49) + 1 for w in words][:20]])


def predict_fn(data, model, context):
    with torch.no_grad():
        return model(data)


def output_fn(prediction, accept):
    return str(round(float(prediction[0]), 6))
"""


def tokens(text: str) -> torch.Tensor:
    return torch.tensor([[(sum(map(ord, w)) % 49) + 1 for w in text.lower().split()][:20]])


def test_nn_module_with_all_four_handlers(tmp_path: Path) -> None:
    torch.manual_seed(0)
    code = tmp_path / "code"
    write_code(code, MODEL_CODE, name="model.py")
    write_code(code, INFERENCE)
    import sys
    sys.path.insert(0, str(code))
    try:
        from model import Scorer  # the user's own module, as the worker imports it
    finally:
        sys.path.remove(str(code))
        sys.modules.pop("model", None)
    model = Scorer(50, 16).eval()
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    torch.save(model.state_dict(), model_dir / "model.pth")
    (model_dir / "model_info.json").write_text(json.dumps({"vocab_size": 50, "hidden": 16}))
    review = "This movie was a wonderful surprise, I loved it"
    with torch.no_grad():
        want = str(round(float(model(tokens(review))[0]), 6))

    worker = start_worker(tmp_path / "w", model_dir, "pytorch", code_dir=code,
                          entry_point="inference.py")
    try:
        response = worker.invoke(review, content_type="text/plain")
        wrong = worker.invoke("[1]", content_type="application/json")
    finally:
        worker.stop()

    assert response.status_code == 200, response.text
    assert response.text == want
    assert response.headers["content-type"] == "application/json"  # the accept's default
    assert wrong.status_code == 500
    assert wrong.text.strip() == "ValueError: send text/plain"


@pytest.mark.filterwarnings("ignore:`torch.jit")
def test_toolkit_defaults_on_torchscript(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    torch.jit.save(torch.jit.script(model), str(model_dir / "model.pt"))
    rows = np.random.default_rng(2).normal(size=(5, 4))
    with torch.no_grad():
        want = model(torch.FloatTensor(rows.astype(np.float32)))
        want_one = model(torch.FloatTensor(rows[0].astype(np.float32)))
        want_npy = model(torch.from_numpy(rows.astype(np.float32)))
    buffer = io.BytesIO()
    np.save(buffer, rows.astype(np.float32))

    worker = start_worker(tmp_path / "w", model_dir, "pytorch")
    try:
        as_json = worker.invoke(json.dumps(rows.tolist()), content_type="application/json")
        one_row = worker.invoke(",".join(repr(float(v)) for v in rows[0]), accept="text/csv")
        as_npy = worker.invoke(buffer.getvalue(), content_type="application/x-npy",
                               accept="application/x-npy")
    finally:
        worker.stop()

    assert as_json.json() == want.tolist()
    assert one_row.text == "".join(f"{v!s}\n" for v in np.asarray(want_one.tolist()))
    np.testing.assert_array_equal(np.load(io.BytesIO(as_npy.content)),
                                  np.asarray(want_npy.tolist()))


def test_context_arguments_everywhere(tmp_path: Path) -> None:
    code = """
    import torch

    def model_fn(model_dir, context):
        return torch.nn.Identity()

    def input_fn(body, content_type, context):
        return torch.tensor([float(v) for v in body.split(",")])

    def predict_fn(data, model, context):
        return model(data) * 2

    def output_fn(prediction, accept, context):
        context.set_response_header(0, "x-amzn-sagemaker-custom-attributes", "doubled=1")
        return ",".join(str(float(v)) for v in prediction), "text/csv"
    """
    write_code(tmp_path / "code", code)
    (tmp_path / "model").mkdir()
    worker = start_worker(tmp_path / "w", tmp_path / "model", "pytorch",
                          code_dir=tmp_path / "code", entry_point="inference.py")
    try:
        response = worker.invoke("1,2.5", **{"X-Amzn-SageMaker-Custom-Attributes": "a=b"})
    finally:
        worker.stop()

    assert response.text == "2.0,5.0"
    assert response.headers["content-type"] == "text/csv"
    assert response.headers["x-amzn-sagemaker-custom-attributes"] == "doubled=1"


@pytest.mark.parametrize("files, source, reason", [
    ({}, None, "needs exactly one .pt or .pth TorchScript file"),
    ({"weights.pth": b"not torchscript"}, None, "could not load weights.pth as TorchScript"),
    ({}, "def model_fn(model_dir):\n    raise RuntimeError('CUDA out of memory')\n",
     "model_fn raised RuntimeError: CUDA out of memory (traceback in the endpoint's log)"),
])
def test_load_failures(tmp_path: Path, files: dict[str, bytes], source: str | None,
                       reason: str) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name, content in files.items():
        (model_dir / name).write_bytes(content)
    code_dir = None
    if source is not None:
        code_dir = tmp_path / "code"
        write_code(code_dir, source)

    failure = run_failing_worker(tmp_path / "w", model_dir, "pytorch", code_dir=code_dir,
                                 entry_point="inference.py" if source else None)

    assert failure.returncode == 1, failure.output
    assert failure.reason is not None and reason in failure.reason, failure.reason

"""The SageMaker Python SDK v2 against cove, unchanged: script mode with SKLearn and PyTorch,
Estimator.attach, logs streamed by fit()."""

from __future__ import annotations

import io
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.training.helpers import ROLE, unique

SKLEARN_TRAIN = """
import argparse, glob, os
import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
    args = parser.parse_args()
    data = np.vstack([np.loadtxt(f, delimiter=",") for f in glob.glob(args.train + "/*.csv")])
    y, X = data[:, 0], data[:, 1:]
    model = LogisticRegression(C=args.C).fit(X, y)
    print(f"train_accuracy={model.score(X, y):.4f}", flush=True)
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
"""

PYTORCH_TRAIN = """
import argparse, json, os
import numpy as np
import torch
from torch import nn

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    data = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAINING"], "train.csv"),
                      delimiter=",", dtype=np.float32)
    y, X = torch.from_numpy(data[:, :1]), torch.from_numpy(data[:, 1:])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(X.shape[1], 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for epoch in range(args.epochs):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(X), y)
        loss.backward()
        optimizer.step()
        print(f"epoch {epoch} loss: {loss.item():.5f}", flush=True)
    torch.save(model.state_dict(), os.path.join(os.environ["SM_MODEL_DIR"], "model.pth"))
    json.dump({"final_loss": loss.item()},
              open(os.path.join(os.environ["SM_MODEL_DIR"], "info.json"), "w"))
"""


@pytest.fixture
def session(cove: Any, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    for name, value in cove.env().items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "sagemaker-config.yaml"
    config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n"
                      "      TelemetryOptOut: true\n")
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(config))
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import boto3
    import sagemaker

    from cove._sdk_polls import quick_session_class

    # as cove.sagemaker_session() makes it: the SDK's Session, its waits looking each
    # second rather than sleeping 5-30 s before each look at a job cove ran in two
    return quick_session_class(sagemaker.Session)(boto_session=boto3.Session(),
                                                  default_bucket=bucket)


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text))
    return directory


def _model_tar(session: Any, uri: str) -> dict[str, bytes]:
    bucket, key = uri[5:].split("/", 1)
    body = session.boto_session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()  # type: ignore[union-attr]
                if m.isfile()}


def test_sklearn_estimator_fit_and_attach(session: Any, bucket: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    from sagemaker.estimator import Estimator
    from sagemaker.sklearn import SKLearn

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(float)
    csv = tmp_path / "train.csv"
    np.savetxt(csv, np.column_stack([y, X]), delimiter=",")
    train_uri = session.upload_data(str(csv), bucket=bucket, key_prefix="sk/train")
    source = _write(tmp_path / "src", {"train.py": SKLEARN_TRAIN})
    estimator = SKLearn(entry_point="train.py", source_dir=str(source), framework_version="1.2-1",
                        instance_type="ml.m5.large", instance_count=1, role=ROLE,
                        sagemaker_session=session, hyperparameters={"C": 0.5},
                        metric_definitions=[{"Name": "train:accuracy",
                                             "Regex": r"train_accuracy=([0-9.]+)"}])
    name = unique("sk")
    estimator.fit({"train": train_uri}, job_name=name, logs=True)
    assert "train_accuracy=" in capsys.readouterr().out  # fit() streamed the job's log
    files = _model_tar(session, estimator.model_data)
    assert "model.joblib" in files
    attached = Estimator.attach(name, sagemaker_session=session)
    assert attached.model_data == estimator.model_data
    described = session.sagemaker_client.describe_training_job(TrainingJobName=name)
    assert described["FinalMetricDataList"][0]["Value"] > 0.9


def test_pytorch_estimator_fit(session: Any, bucket: str, tmp_path: Path) -> None:
    import numpy as np
    from sagemaker.pytorch import PyTorch

    rng = np.random.default_rng(1)
    X = rng.normal(size=(256, 4)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32)
    data = tmp_path / "data"
    data.mkdir()
    np.savetxt(data / "train.csv", np.column_stack([y, X]), delimiter=",")
    train_uri = session.upload_data(str(data), bucket=bucket, key_prefix="pt/train")
    source = _write(tmp_path / "src", {"train.py": PYTORCH_TRAIN})
    estimator = PyTorch(entry_point="train.py", source_dir=str(source), framework_version="2.1",
                        py_version="py310", instance_type="ml.m5.large", instance_count=1,
                        role=ROLE, sagemaker_session=session, hyperparameters={"epochs": 40})
    estimator.fit({"training": train_uri}, job_name=unique("pt"), logs=False)
    files = _model_tar(session, estimator.model_data)
    assert "model.pth" in files
    import json

    assert json.loads(files["info.json"])["final_loss"] < 5.0


GLOO_TRAIN = """
import argparse, json, os
import torch
import torch.distributed as dist

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int)
args = parser.parse_args()
hosts = json.loads(os.environ["SM_HOSTS"])
rank = hosts.index(os.environ["SM_CURRENT_HOST"])
dist.init_process_group("gloo", init_method=f"tcp://{hosts[0]}:{args.port}", rank=rank,
                        world_size=len(hosts))
value = torch.tensor([float(rank + 1)])
dist.all_reduce(value)
print(f"rank {rank} of {len(hosts)}: all_reduce sum = {value.item()}", flush=True)
if rank == 0:
    json.dump({"sum": value.item(), "world": dist.get_world_size()},
              open(os.path.join(os.environ["SM_MODEL_DIR"], "result.json"), "w"))
dist.destroy_process_group()
"""


def test_pytorch_gloo_across_two_hosts(session: Any, tmp_path: Path) -> None:
    import json
    import socket

    from sagemaker.pytorch import PyTorch

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = _write(tmp_path / "src", {"train.py": GLOO_TRAIN})
    estimator = PyTorch(entry_point="train.py", source_dir=str(source), framework_version="2.1",
                        py_version="py310", instance_type="ml.m5.large", instance_count=2,
                        role=ROLE, sagemaker_session=session, hyperparameters={"port": port})
    estimator.fit(job_name=unique("gloo"), logs=False)
    result = json.loads(_model_tar(session, estimator.model_data)["result.json"])
    assert result == {"sum": 3.0, "world": 2}

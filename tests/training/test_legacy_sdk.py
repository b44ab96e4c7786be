"""Older SageMaker code, unchanged: the Udacity capstone's shape (PyTorch LSTM sentiment,
``framework_version='0.4.0'`` on a GPU instance type, scripts that ``import
sagemaker_containers``) through the SDK v2, trained and deployed; the toolkits' modules import
in script mode."""

from __future__ import annotations

import pickle
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.training.helpers import ROLE, log_lines, unique

MODEL = """
import torch.nn as nn

class LSTMClassifier(nn.Module):
    def __init__(self, embedding_dim, hidden_dim, vocab_size):
        super(LSTMClassifier, self).__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim)
        self.dense = nn.Linear(in_features=hidden_dim, out_features=1)
        self.sig = nn.Sigmoid()
        self.word_dict = None

    def forward(self, x):
        x = x.t()
        lengths = x[0, :]
        reviews = x[1:, :]
        embeds = self.embedding(reviews)
        lstm_out, _ = self.lstm(embeds)
        out = self.dense(lstm_out)
        out = out[lengths - 1, range(len(lengths))]
        return self.sig(out.squeeze())
"""

TRAIN = """
import argparse, json, os, pickle, sys
import sagemaker_containers
from sagemaker_containers.beta import framework
import sagemaker_training.environment
import sagemaker_inference.content_types
import numpy as np
import torch
import torch.optim as optim
import torch.utils.data
from model import LSTMClassifier

def _get_train_data_loader(batch_size, training_dir):
    train_data = np.loadtxt(os.path.join(training_dir, "train.csv"), delimiter=",")
    train_y = torch.from_numpy(train_data[:, 0]).float().squeeze()
    train_X = torch.from_numpy(train_data[:, 1:]).long()
    train_ds = torch.utils.data.TensorDataset(train_X, train_y)
    return torch.utils.data.DataLoader(train_ds, batch_size=batch_size)

if __name__ == '__main__':
    env = sagemaker_containers.training_env()
    print("toolkit env:", env.current_host, env.hosts, sorted(env.channel_input_dirs), flush=True)
    parser = argparse.ArgumentParser()
    parser.add_argument('--epochs', type=int, default=10)
    parser.add_argument('--embedding_dim', type=int, default=8)
    parser.add_argument('--hidden_dim', type=int, default=16)
    parser.add_argument('--vocab_size', type=int, default=20)
    parser.add_argument('--hosts', type=list, default=json.loads(os.environ['SM_HOSTS']))
    parser.add_argument('--current-host', type=str, default=os.environ['SM_CURRENT_HOST'])
    parser.add_argument('--model-dir', type=str, default=os.environ['SM_MODEL_DIR'])
    parser.add_argument('--data-dir', type=str, default=os.environ['SM_CHANNEL_TRAINING'])
    parser.add_argument('--num-gpus', type=int, default=os.environ['SM_NUM_GPUS'])
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print("Using device {}.".format(device))
    torch.manual_seed(0)
    train_loader = _get_train_data_loader(16, args.data_dir)
    model = LSTMClassifier(args.embedding_dim, args.hidden_dim, args.vocab_size).to(device)
    with open(os.path.join(args.data_dir, "word_dict.pkl"), "rb") as f:
        model.word_dict = pickle.load(f)
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    loss_fn = torch.nn.BCELoss()
    for epoch in range(1, args.epochs + 1):
        total = 0
        for batch_X, batch_y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(batch_X.to(device)), batch_y.to(device))
            loss.backward()
            optimizer.step()
            total += loss.data.item()
        print("Epoch: {}, BCELoss: {}".format(epoch, total / len(train_loader)), flush=True)
    with open(os.path.join(args.model_dir, 'model_info.pth'), 'wb') as f:
        torch.save({'embedding_dim': args.embedding_dim, 'hidden_dim': args.hidden_dim,
                    'vocab_size': args.vocab_size}, f)
    with open(os.path.join(args.model_dir, 'word_dict.pkl'), 'wb') as f:
        pickle.dump(model.word_dict, f)
    with open(os.path.join(args.model_dir, 'model.pth'), 'wb') as f:
        torch.save(model.cpu().state_dict(), f)
"""

PREDICT = """
import os, pickle
import numpy as np
import sagemaker_containers
import torch
from model import LSTMClassifier

def model_fn(model_dir):
    with open(os.path.join(model_dir, 'model_info.pth'), 'rb') as f:
        info = torch.load(f)
    model = LSTMClassifier(info['embedding_dim'], info['hidden_dim'], info['vocab_size'])
    with open(os.path.join(model_dir, 'model.pth'), 'rb') as f:
        model.load_state_dict(torch.load(f))
    with open(os.path.join(model_dir, 'word_dict.pkl'), 'rb') as f:
        model.word_dict = pickle.load(f)
    return model.eval()

def input_fn(serialized_input_data, content_type):
    if content_type == 'text/plain':
        return serialized_input_data.decode('utf-8')
    raise Exception('Requested unsupported ContentType in content_type: ' + content_type)

def output_fn(prediction_output, accept):
    return str(prediction_output)

def predict_fn(input_data, model):
    words = [model.word_dict.get(w, 1) for w in input_data.lower().split()][:10]
    data = torch.from_numpy(np.array([[len(words)] + words + [0] * (10 - len(words))])).long()
    with torch.no_grad():
        return int(np.round(model(data).numpy()))
"""

WORDS = {"great": 2, "good": 3, "fun": 4, "love": 5, "bad": 6, "awful": 7, "boring": 8,
         "hate": 9}


@pytest.fixture
def session(cove: Any, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    for name, value in cove.env().items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "sagemaker-config.yaml"
    config.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n"
                      "      TelemetryOptOut: true\n")
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(config))
    import boto3
    import sagemaker

    from cove._sdk_polls import quick_session_class

    # as cove.sagemaker_session() makes it: the SDK's Session, its waits looking each
    # second rather than sleeping 5-30 s before each look at a job cove ran in two
    return quick_session_class(sagemaker.Session)(boto_session=boto3.Session(),
                                                  default_bucket=bucket)


def _data(directory: Path) -> Path:
    import numpy as np

    rng = np.random.default_rng(0)
    rows = []
    for _ in range(120):
        label = int(rng.integers(0, 2))
        pool = [2, 3, 4, 5] if label else [6, 7, 8, 9]
        words = list(rng.choice(pool, size=int(rng.integers(2, 8))))
        rows.append([label, len(words), *words, *[0] * (10 - len(words))])
    directory.mkdir()
    np.savetxt(directory / "train.csv", np.array(rows), delimiter=",", fmt="%d")
    (directory / "word_dict.pkl").write_bytes(pickle.dumps(WORDS))
    return directory


def _source(directory: Path, files: dict[str, str]) -> str:
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text))
    return str(directory)


def test_pytorch_0_4_0_capstone_trains_and_deploys(session: Any, tmp_path: Path) -> None:
    from sagemaker.pytorch import PyTorch, PyTorchModel

    inputs = session.upload_data(str(_data(tmp_path / "data")), key_prefix="sentiment_rnn")
    estimator = PyTorch(entry_point="train.py",
                        source_dir=_source(tmp_path / "train", {"train.py": TRAIN,
                                                                "model.py": MODEL}),
                        role=ROLE, framework_version="0.4.0", py_version="py3",
                        instance_count=1, instance_type="ml.p2.xlarge",
                        sagemaker_session=session, hyperparameters={"epochs": 10})
    assert "/sagemaker-pytorch:0.4.0-gpu-py3" in estimator.training_image_uri()
    name = unique("capstone")
    estimator.fit({"training": inputs}, job_name=name, logs=False)
    lines = log_lines(session.boto_session.client("logs"), name)
    assert any("built for GPUs; cove runs it on CPU" in line for line in lines), lines[:5]
    assert any(line == "Using device cpu." for line in lines)
    assert "toolkit env: algo-1 ['algo-1'] ['training']" in lines
    model = PyTorchModel(model_data=estimator.model_data, role=ROLE, framework_version="0.4.0",
                         py_version="py3", entry_point="predict.py",
                         source_dir=_source(tmp_path / "serve", {"predict.py": PREDICT,
                                                                 "model.py": MODEL}),
                         sagemaker_session=session)
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import IdentitySerializer

    predictor = model.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge",
                             endpoint_name=unique("capstone"))
    try:
        predictor = Predictor(predictor.endpoint_name, sagemaker_session=session,
                              serializer=IdentitySerializer("text/plain"))
        assert predictor.predict(b"great fun love good").decode() == "1"
        assert predictor.predict(b"awful boring bad hate").decode() == "0"
    finally:
        predictor.delete_endpoint()

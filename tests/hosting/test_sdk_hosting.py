"""Deploying with the SageMaker Python SDK v2, unchanged: Model.deploy, Predictor.predict with
serializers, SKLearnModel / PyTorchModel with inference code, update and delete."""

from __future__ import annotations

import io
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from tests.hosting.test_endpoints import XGB_IMAGE, xgb_model
from tests.training.helpers import ROLE, unique
from tests.training.test_sdk import session  # noqa: F401 - the SDK session fixture

SKLEARN_INFERENCE = """
import json, os
import joblib
import numpy as np

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

def input_fn(body, content_type):
    assert content_type == "application/json", content_type
    return np.array(json.loads(body)["rows"])

def predict_fn(data, model):
    return model.predict_proba(data)[:, 1]

def output_fn(prediction, accept):
    return json.dumps({"p": prediction.tolist()}), "application/json"
"""

TORCH_INFERENCE = """
import os
import torch

def model_fn(model_dir):
    model = torch.nn.Linear(3, 1)
    model.load_state_dict(torch.load(os.path.join(model_dir, "model.pth")))
    return model.eval()
"""


def test_model_deploy_predict_update_delete(session: Any, bucket: str) -> None:  # noqa: F811
    import xgboost as xgb
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.model import Model
    from sagemaker.serializers import CSVSerializer

    s3 = session.boto_session.client("s3")
    url, booster, X = xgb_model(s3, bucket)
    from sagemaker.predictor import Predictor

    model = Model(image_uri=XGB_IMAGE, model_data=url, role=ROLE, sagemaker_session=session,
                  predictor_cls=Predictor)
    name = unique("sdk-ep")
    predictor = model.deploy(initial_instance_count=1, instance_type="ml.m5.large",
                             endpoint_name=name, serializer=CSVSerializer(),
                             deserializer=CSVDeserializer())
    rows = predictor.predict(X[:5])
    got = np.array([float(v) for row in rows for v in row])
    np.testing.assert_allclose(got, booster.predict(xgb.DMatrix(X[:5])), rtol=1e-5)
    url2, booster2, _ = xgb_model(s3, bucket, seed=9)
    model2 = Model(image_uri=XGB_IMAGE, model_data=url2, role=ROLE, sagemaker_session=session,
                   name=unique("sdk-m2"))
    model2.create(instance_type="ml.m5.large")
    predictor.update_endpoint(model_name=model2.name, initial_instance_count=1,
                              instance_type="ml.m5.large")
    rows = predictor.predict(X[:5])
    got = np.array([float(v) for row in rows for v in row])
    np.testing.assert_allclose(got, booster2.predict(xgb.DMatrix(X[:5])), rtol=1e-5)
    predictor.delete_endpoint()
    predictor.delete_model()
    assert not session.sagemaker_client.list_endpoints(NameContains=name)["Endpoints"]


def _source(tmp_path: Path, files: dict[str, str]) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


def _upload_tar(s3: Any, bucket: str, files: dict[str, bytes]) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    key = f"models/{unique('art')}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    return f"s3://{bucket}/{key}"


def test_sklearn_model_with_inference_code(session: Any, bucket: str,  # noqa: F811
                                           tmp_path: Path) -> None:
    import joblib
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.serializers import JSONSerializer
    from sagemaker.sklearn import SKLearnModel
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    clf = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    buffer = io.BytesIO()
    joblib.dump(clf, buffer)
    url = _upload_tar(session.boto_session.client("s3"), bucket,
                      {"model.joblib": buffer.getvalue()})
    source = _source(tmp_path / "src", {"inference.py": SKLEARN_INFERENCE})
    model = SKLearnModel(model_data=url, role=ROLE, entry_point="inference.py",
                         source_dir=str(source), framework_version="1.2-1",
                         sagemaker_session=session)
    predictor = model.deploy(initial_instance_count=1, instance_type="ml.m5.large",
                             endpoint_name=unique("sk-ep"), serializer=JSONSerializer(),
                             deserializer=JSONDeserializer())
    result = predictor.predict({"rows": X[:4].tolist()})
    np.testing.assert_allclose(result["p"], clf.predict_proba(X[:4])[:, 1], rtol=1e-6)
    predictor.delete_endpoint()


def test_pytorch_model_with_default_handlers(session: Any, bucket: str,  # noqa: F811
                                             tmp_path: Path) -> None:
    import torch
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.pytorch import PyTorchModel
    from sagemaker.serializers import JSONSerializer

    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    url = _upload_tar(session.boto_session.client("s3"), bucket,
                      {"model.pth": buffer.getvalue()})
    source = _source(tmp_path / "src", {"inference.py": TORCH_INFERENCE})
    model = PyTorchModel(model_data=url, role=ROLE, entry_point="inference.py",
                         source_dir=str(source), framework_version="2.1", py_version="py310",
                         sagemaker_session=session)
    predictor = model.deploy(initial_instance_count=1, instance_type="ml.m5.large",
                             endpoint_name=unique("pt-ep"), serializer=JSONSerializer(),
                             deserializer=JSONDeserializer())
    rows = [[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]]
    with torch.no_grad():
        expected = net(torch.tensor(rows)).numpy()
    np.testing.assert_allclose(np.array(predictor.predict(rows)), expected, rtol=1e-5)
    predictor.delete_endpoint()

"""Deploying with the SageMaker Python SDK v2, unchanged: Model.deploy, Predictor.predict with
serializers, SKLearnModel / PyTorchModel with inference code, update and delete."""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from tests.hosting.test_endpoints import SK_IMAGE, XGB_IMAGE, csv_rows, deploy, xgb_model
from tests.training.helpers import ROLE, tar_gz, unique
from tests.training.test_job_lifecycle import _tiny_package
from tests.training.test_sdk import session  # noqa: F401 - the SDK session fixture

SKLEARN_INFERENCE = """
import json, os
import covetestpkg  # from the wheel requirements.txt names
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
    return json.dumps({"p": prediction.tolist(), "answer": covetestpkg.ANSWER}), "application/json"
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
    key = f"models/{unique('art')}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=tar_gz(files))
    return f"s3://{bucket}/{key}"


def test_sklearn_model_with_inference_code(session: Any, bucket: str,  # noqa: F811
                                           tmp_path: Path) -> None:
    """SKLearnModel(source_dir=...): the code reaches the worker as SAGEMAKER_SUBMIT_DIRECTORY
    (sourcedir.tar.gz), with its requirements.txt installed."""
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
    source = _source(tmp_path / "src", {"inference.py": SKLEARN_INFERENCE,
                                        "requirements.txt": "./covetestpkg-1.0-py3-none-any.whl"})
    _tiny_package(source)  # requirements.txt installs it from the source directory
    model = SKLearnModel(model_data=url, role=ROLE, entry_point="inference.py",
                         source_dir=str(source), framework_version="1.2-1",
                         sagemaker_session=session)
    predictor = model.deploy(initial_instance_count=1, instance_type="ml.m5.large",
                             endpoint_name=unique("sk-ep"), serializer=JSONSerializer(),
                             deserializer=JSONDeserializer())
    result = predictor.predict({"rows": X[:4].tolist()})
    np.testing.assert_allclose(result["p"], clf.predict_proba(X[:4])[:, 1], rtol=1e-6)
    assert result["answer"] == 42
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


def _ll_estimator(sm_session: Any, bucket: str, predictor_type: str, X: np.ndarray,
                  y: np.ndarray) -> Any:
    """A built-in linear learner fitted the tutorial way (generic Estimator, CSV channel)."""
    from sagemaker import image_uris
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput

    prefix = unique(f"ll-{predictor_type}")
    s3 = sm_session.boto_session.client("s3")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/train/train.csv",
                  Body=csv_rows(np.column_stack([y, X])))
    image = image_uris.retrieve("linear-learner", sm_session.boto_region_name)
    estimator = Estimator(image, ROLE, instance_count=1, instance_type="ml.m5.large",
                          output_path=f"s3://{bucket}/{prefix}/output",
                          sagemaker_session=sm_session)
    estimator.set_hyperparameters(feature_dim=X.shape[1], predictor_type=predictor_type,
                                  mini_batch_size=50, epochs=5)
    estimator.fit({"train": TrainingInput(f"s3://{bucket}/{prefix}/train",
                                          content_type="text/csv")}, wait=False)
    return estimator


def _ll_model(sm_session: Any, model_data: str, tmp_path: Path) -> Any:
    from cove.algorithms.linear_learner_model import LinearLearnerModel

    bucket, key = model_data[5:].split("/", 1)
    body = sm_session.boto_session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        tar.extractall(tmp_path, filter="data")
    return LinearLearnerModel.load(tmp_path)


def test_linear_learner_estimator_deploy_predict(session: Any, bucket: str,  # noqa: F811
                                                 tmp_path: Path) -> None:
    """The A/B tutorial's models: a binary classifier and a regressor trained by the built-in
    linear learner, deployed with Estimator.deploy, called with CSV in and JSON out; the
    answers equal the trained model's own predictions."""
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.serializers import CSVSerializer

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 5))
    y_reg = X @ np.array([1.5, -2.0, 0.5, 0.0, 3.0]) + 4.0 + rng.normal(scale=0.1, size=400)
    y_bin = (X[:, 0] - X[:, 1] > 0).astype(float)
    classifier = _ll_estimator(session, bucket, "binary_classifier", X, y_bin)
    regressor = _ll_estimator(session, bucket, "regressor", X, y_reg)
    for estimator in (classifier, regressor):
        estimator.latest_training_job.wait(logs="None")
    serde = {"serializer": CSVSerializer(), "deserializer": JSONDeserializer()}
    reg_predictor = regressor.deploy(1, "ml.m5.large", endpoint_name=unique("ll-reg"),
                                     wait=False, **serde)
    clf_predictor = classifier.deploy(1, "ml.m5.large", endpoint_name=unique("ll-clf"), **serde)
    session.wait_for_endpoint(reg_predictor.endpoint_name, poll=1)

    clf_model = _ll_model(session, classifier.model_data, tmp_path / "clf")
    answer = clf_predictor.predict(X[:40])
    assert list(answer) == ["predictions"] and len(answer["predictions"]) == 40
    expected = clf_model.predict(X[:40])
    assert [p["predicted_label"] for p in answer["predictions"]] == [
        e["predicted_label"] for e in expected]
    np.testing.assert_allclose([p["score"] for p in answer["predictions"]],
                               [e["score"] for e in expected], rtol=1e-9)
    assert np.mean([p["predicted_label"] for p in answer["predictions"]] == y_bin[:40]) > 0.9
    one = clf_predictor.predict(X[0])  # a 1-D array: one CSV line
    assert one["predictions"] == [answer["predictions"][0]]

    reg_model = _ll_model(session, regressor.model_data, tmp_path / "reg")
    answer = reg_predictor.predict(X[:40])
    assert all(set(p) == {"score"} for p in answer["predictions"])
    scores = np.array([p["score"] for p in answer["predictions"]])
    np.testing.assert_allclose(scores, [e["score"] for e in reg_model.predict(X[:40])],
                               rtol=1e-9)
    np.testing.assert_allclose(scores, y_reg[:40], atol=0.5)
    clf_predictor.delete_endpoint()
    reg_predictor.delete_endpoint()


PT_INFERENCE_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310"


def test_models_without_inference_code_use_the_default_handlers(
        session: Any, bucket: str) -> None:  # noqa: F811
    """No entry point, no code/: as SageMaker's framework containers, the toolkit's defaults
    serve it — a TorchScript model.pt loaded with torch.jit.load (SDK v2's plain Model), and
    (cove's scikit-learn default) a model.joblib (boto3)."""
    import joblib
    import torch
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import JSONSerializer
    from sklearn.linear_model import LinearRegression

    torch.manual_seed(0)
    net = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh()))
    buffer = io.BytesIO()
    torch.jit.save(net, buffer)
    url = _upload_tar(session.boto_session.client("s3"), bucket, {"model.pt": buffer.getvalue()})
    model = Model(image_uri=PT_INFERENCE_IMAGE, model_data=url, role=ROLE,
                  sagemaker_session=session, predictor_cls=Predictor)
    predictor = model.deploy(initial_instance_count=1, instance_type="ml.m5.large",
                             endpoint_name=unique("pt-default"), serializer=JSONSerializer(),
                             deserializer=JSONDeserializer())
    rows = [[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]]
    with torch.no_grad():
        expected = net(torch.tensor(rows)).numpy()
    np.testing.assert_allclose(np.array(predictor.predict(rows)), expected, rtol=1e-5)
    predictor.delete_endpoint()

    X = np.arange(12, dtype=float).reshape(6, 2)
    reg = LinearRegression().fit(X, X @ [1.5, -2.0] + 3)
    buffer = io.BytesIO()
    joblib.dump(reg, buffer)
    url = _upload_tar(session.boto_session.client("s3"), bucket,
                      {"model.joblib": buffer.getvalue()})
    name = deploy(session.sagemaker_client, [("AllTraffic", url, 1.0, 1)], image=SK_IMAGE)
    reply = session.sagemaker_runtime_client.invoke_endpoint(
        EndpointName=name, ContentType="text/csv", Accept="application/json",
        Body=csv_rows(X[:2]))
    np.testing.assert_allclose(json.loads(reply["Body"].read()), reg.predict(X[:2]), rtol=1e-6)
    session.sagemaker_client.delete_endpoint(EndpointName=name)
